import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `limactl list` reads, summed up by `stat`: the Lima home, each instance
/// directory and its `lima.yaml`, and the limactl executable. Creating, deleting,
/// renaming, starting (pid files and sockets appear) or editing an instance changes
/// one of them; an equal fingerprint with no VM running means a list would say the same.
struct LimaHomeFingerprint: Equatable, Sendable {
    private var stamps: [String: [Int]] = [:]
    /// Each instance directory's entries: a pid file or socket appearing is seen even
    /// within one tick of the coarse file clock.
    private var contents: [String: [String]] = [:]

    /// Nil when the Lima home cannot be read: the caller then simply lists.
    static func take(limaHome: String?, executable: String?) -> LimaHomeFingerprint? {
        guard let limaHome, let home = stamp(limaHome), let names = entries(limaHome) else { return nil }
        var fingerprint = LimaHomeFingerprint()
        fingerprint.stamps[limaHome] = home
        if let executable { fingerprint.stamps[executable] = stamp(executable) ?? [] }
        // Lima's own directories (_config, _cache, ...) start with "_".
        for name in names where !name.hasPrefix("_") {
            let instance = limaHome + "/" + name
            fingerprint.stamps[instance] = stamp(instance) ?? []
            fingerprint.stamps[instance + "/lima.yaml"] = stamp(instance + "/lima.yaml") ?? []
            fingerprint.contents[instance] = entries(instance) ?? []
        }
        return fingerprint
    }

    /// The names in a directory but "." and "..", sorted; nil when it cannot be read.
    private static func entries(_ path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Inode, size, and the modification and status-change times to the nanosecond.
    private static func stamp(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [
            Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, info.st_ctim.tv_sec,
            info.st_ctim.tv_nsec,
        ]
    }
}
