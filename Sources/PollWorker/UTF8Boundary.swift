/// Where UTF-8 bytes may be cut without splitting a scalar. One place for the rule,
/// used by the reporter (trimming output that does not fit) and by live output
/// (cutting chunks).
enum UTF8Boundary {
    /// The largest offset in `start...stop` where a scalar starts (a byte whose high
    /// bits are not 10), or `stop` when it is the end of the bytes.
    static func atOrBefore<Bytes: RandomAccessCollection>(_ stop: Int, in bytes: Bytes, after start: Int = 0) -> Int
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var offset = stop
        while offset > start, offset < bytes.count, bytes[bytes.startIndex + offset] & 0xC0 == 0x80 { offset -= 1 }
        return offset
    }

    /// Where the last complete scalar ends: an unfinished one at the end waits for more bytes.
    static func completeEnd<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> Int
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard !bytes.isEmpty else { return 0 }
        var lead = bytes.count - 1
        while lead > 0, bytes[bytes.startIndex + lead] & 0xC0 == 0x80 { lead -= 1 }
        let byte = bytes[bytes.startIndex + lead]
        let length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
        return bytes.count - lead < length ? lead : bytes.count
    }
}
