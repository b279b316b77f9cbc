import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads small files with POSIX calls, so that a failure says what errno says
/// ("No such file or directory"), not Foundation's generic wording.
public enum FileBytes {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { String(cString: strerror(errno)) }
    }

    /// The whole file, up to `limit` bytes (the rest is ignored).
    public static func read(_ path: String, limit: Int = 16 << 20) throws(Failure) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: path, errno: errno) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while data.count < limit {
            let count = buffer.withUnsafeMutableBytes {
                Glibc.read(fd, $0.baseAddress, min($0.count, limit - data.count))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, errno: errno)
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }
}
