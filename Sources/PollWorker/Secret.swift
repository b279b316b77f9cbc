/// A credential that never prints itself: `description`, string interpolation
/// and `dump` all show a redaction marker, so a stray log line cannot leak it.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public static let marker = "[REDACTED]"
    /// The real value: read it only where it is sent (the Authorization header).
    public let exposedValue: String

    public init(_ value: String) { exposedValue = value }

    public var description: String { Secret.marker }
    public var debugDescription: String { Secret.marker }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
