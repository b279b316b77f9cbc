import Foundation
import Glibc

/// `$LIMA_HOME` (else `~/.lima`), symlinks resolved when it exists (`dirnames.LimaDir`).
struct LimaHome: Sendable {
    let path: String

    init() {
        var path = Sys.env("LIMA_HOME").flatMap { $0.isEmpty ? nil : $0 } ?? ((Sys.env("HOME") ?? "") + "/.lima")
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        if let resolved = realpath(path, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        self.path = path
    }

    func dir(_ name: String) -> String { path + "/" + name }

    var identityFile: String { path + "/_config/user" }

    /// `$LIMA_TEMPLATES_PATH` (colon-separated) else `$LIMA_HOME/_templates`.
    var templateDirs: [String] {
        if let list = Sys.env("LIMA_TEMPLATES_PATH"), !list.isEmpty {
            return list.split(separator: ":").map(String.init)
        }
        return [path + "/_templates"]
    }

    /// `store.Instances`: directories not starting with `_` or `.`, sorted by name.
    func instanceNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return entries.filter { !$0.hasPrefix("_") && !$0.hasPrefix(".") && Sys.isDirectory(dir($0)) }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
}
