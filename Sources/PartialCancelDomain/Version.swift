/// The release of every pcancel executable (`--version`) and of the server a Hello reports.
public let pcancelVersion = "0.1.0"
