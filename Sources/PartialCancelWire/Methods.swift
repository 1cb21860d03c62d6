/// Method names as they travel in `Call.method`.
public enum Methods {
    public static let service = "pcancel.v1.PartialCancellation"
    public static let ping = "\(service)/Ping"
    public static let health = "\(service)/Health"
    public static let ingestOrder = "\(service)/IngestOrder"
    public static let getOrder = "\(service)/GetOrder"
    public static let putStock = "\(service)/PutStock"
    public static let getStock = "\(service)/GetStock"
    public static let listDeadLetters = "\(service)/ListDeadLetters"
    public static let redriveDeadLetter = "\(service)/RedriveDeadLetter"
    public static let validateEligibility = "\(service)/ValidateEligibility"
    public static let requestCancellation = "\(service)/RequestCancellation"
    public static let getCancellation = "\(service)/GetCancellation"
    public static let listNotifications = "\(service)/ListNotifications"
    public static let confirmCancellation = "\(service)/ConfirmCancellation"
    public static let declineCancellation = "\(service)/DeclineCancellation"
    public static let releaseInventory = "\(service)/ReleaseInventory"
    public static let stats = "\(service)/Stats"
    public static let watchOrder = "\(service)/WatchOrder"
    public static let watchStock = "\(service)/WatchStock"
    public static let withdrawCancellation = "\(service)/WithdrawCancellation"
    public static let getDeadLetter = "\(service)/GetDeadLetter"
    public static let discardDeadLetter = "\(service)/DiscardDeadLetter"

    /// Every method, in the order above (the fuzzers' dispatch target picks by index: keep the order,
    /// and add new methods at the end).
    public static let all = [
        ping, health, ingestOrder, getOrder, putStock, getStock, listDeadLetters, redriveDeadLetter, validateEligibility,
        requestCancellation, getCancellation, listNotifications, confirmCancellation, declineCancellation, releaseInventory,
        stats, watchOrder, watchStock, withdrawCancellation, getDeadLetter, discardDeadLetter,
    ]
}

/// The protocol version this module speaks.
public let protocolVersion: UInt32 = 1
