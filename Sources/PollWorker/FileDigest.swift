import Crypto
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file's size and SHA-256 (lowercase hex), read in 1 MiB chunks so memory
/// stays flat whatever the file's size.
struct FileDigest: Sendable, Equatable {
    var sizeBytes: Int64
    var sha256: String

    /// Reads `path` off the cooperative thread pool (an archive can be gigabytes);
    /// with `sync`, also flushes the file to disk (fsync) once it is read. On a serial
    /// queue of its own, not a global one: the first worker of Dispatch's global pool
    /// starts a monitor that wakes the process every second for good (GlobalExecutor).
    static func of(path: String, sync: Bool = false) async throws(FileBytes.Failure) -> FileDigest {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<FileDigest, FileBytes.Failure>, Never>) in
            DispatchQueue(label: "limahost-agent.digest", qos: .utility).async {
                do throws(FileBytes.Failure) {
                    continuation.resume(returning: .success(try FileDigest.compute(path: path, sync: sync)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// The blocking part of `of(path:sync:)`.
    static func compute(path: String, sync: Bool) throws(FileBytes.Failure) -> FileDigest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileBytes.Failure(path: path, errno: errno) }
        defer { close(fd) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var size: Int64 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileBytes.Failure(path: path, errno: errno)
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            size += Int64(count)
        }
        if sync, fsync(fd) != 0 { throw FileBytes.Failure(path: path, errno: errno) }
        return FileDigest(sizeBytes: size, sha256: hex(hasher.finalize()))
    }

    /// Lowercase hex of a digest's bytes.
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
