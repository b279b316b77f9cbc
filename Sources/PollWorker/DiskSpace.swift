import Foundation
import Models

#if canImport(Glibc)
    import Glibc
#endif

/// Size and use of the file system holding a path, from `statvfs(3)`.
public enum DiskSpace {
    /// Total bytes (`f_blocks × f_frsize`) and used bytes (`(f_blocks − f_bfree) × f_frsize`)
    /// of the file system holding `path`. A path that does not exist yet (a Lima home not
    /// created) is measured at its nearest existing ancestor. nil when even `/` fails.
    public static func usage(path: String) -> DiskUsage? {
        var info = statvfs()
        var probe = path.isEmpty ? "/" : path
        while statvfs(probe, &info) != 0 {
            guard let slash = probe.lastIndex(of: "/"), probe != "/" else { return nil }
            probe = slash == probe.startIndex ? "/" : String(probe[..<slash])
        }
        let blocks = UInt64(info.f_blocks)
        let free = min(UInt64(info.f_bfree), blocks)
        let blockSize = UInt64(info.f_frsize)
        return DiskUsage(
            path: path, totalBytes: bytes(blocks, blockSize), usedBytes: bytes(blocks - free, blockSize))
    }

    /// `count × size` as Int64, saturating at `Int64.max`.
    private static func bytes(_ count: UInt64, _ size: UInt64) -> Int64 {
        let (product, overflow) = count.multipliedReportingOverflow(by: size)
        return overflow ? Int64.max : NetworkCounters.clampedInt64(product)
    }
}
