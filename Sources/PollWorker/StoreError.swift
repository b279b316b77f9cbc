/// A failure of the agent's state store (the SQLite journal and outbox).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The database cannot be opened, created or migrated.
        public static let unavailable = Code(rawValue: "store_unavailable")
        /// Another agent holds the state directory's lock.
        public static let locked = Code(rawValue: "store_locked")
        /// A read or write failed (disk full, I/O error, corruption).
        public static let io = Code(rawValue: "store_io")
        /// A stored row cannot be decoded.
        public static let corrupt = Code(rawValue: "store_corrupt")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
