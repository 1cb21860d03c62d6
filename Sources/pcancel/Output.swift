import ArgumentParser
import Foundation
import PartialCancelWire

/// Exit codes by status class, so that scripts can branch on the kind of failure.
enum ExitCodes {
    static func code(for status: StatusCode) -> Int32 {
        switch status {
        case .ok: 0
        case .invalidArgument, .failedPrecondition, .outOfRange: 2
        case .notFound: 3
        case .alreadyExists, .aborted: 4
        case .unauthenticated, .permissionDenied: 5
        case .unavailable, .deadlineExceeded, .resourceExhausted, .cancelled: 6
        default: 1
        }
    }
}

enum Output {
    /// Prints a JSON object with sorted keys on one line.
    static func json(_ object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        print(String(decoding: data, as: UTF8.self))
    }

    static func statusObject(_ status: Status) -> [String: Any] {
        [
            "code": status.code.name,
            "code_number": Int(status.code.rawValue),
            "message": status.message,
            "reasons": status.reasons.map { ["code": $0.code, "subject": $0.subject, "detail": $0.detail] },
        ]
    }

    /// What a person can do about a failure the CLI sees often.
    static func hint(for status: Status, keyOrigin: String? = nil) -> String? {
        switch status.reasons.first?.code {
        case ReasonCode.connectFailed.rawValue:
            "start a server with tools/serve (see README.md), or point --server at a running one (HOST:PORT, several comma-separated)"
        case ReasonCode.apiKeyRequired.rawValue:
            "no key was sent: give one with --api-key KEY or --api-key-file FILE, set PCANCEL_API_KEY, or run where the embedded default created pcancel-data/dev-api-key"
        case ReasonCode.apiKeyUnknown.rawValue:
            "the server knows no such key; it came from \(keyOrigin ?? "nowhere") (the order: --api-key, $PCANCEL_API_KEY, --api-key-file, pcancel-data/dev-api-key)"
        default: nil
        }
    }

    static func failure(_ status: Status, json: Bool, keyOrigin: String? = nil) {
        if json {
            Output.json(["error": statusObject(status)])
        } else {
            var text = "error: \(status.code.name): \(status.message)\n"
            for reason in status.reasons {
                text += "  reason \(reason.code)"
                if !reason.subject.isEmpty { text += " subject=\(reason.subject)" }
                if !reason.detail.isEmpty { text += " detail=\(reason.detail)" }
                text += "\n"
            }
            if let hint = hint(for: status, keyOrigin: keyOrigin) { text += "  hint: \(hint)\n" }
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}
