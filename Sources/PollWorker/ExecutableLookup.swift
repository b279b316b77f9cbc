import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Resolves a command name the way a shell would, without a shell.
public enum ExecutableLookup {
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// An absolute path to an executable file: `name` itself when it has a slash,
    /// else the first match on `path` (or the default PATH).
    public static func find(_ name: String, path: String?) -> String? {
        if name.contains("/") {
            return access(name, X_OK) == 0 ? absolute(name) : nil
        }
        for directory in (path ?? defaultPath).split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return absolute(candidate)
            }
        }
        return nil
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}
