import Foundation

/// The pid files Lima keeps in an instance directory (limactl-reference.md: instance
/// directory layout): `ha.pid` for the host agent and `<vmType>.pid` for the driver —
/// `qemu.pid`, `vz.pid`, `krunkit.pid`, or `<driver>.drv.pid` for an external driver.
public enum InstancePIDs {
    /// The driver pid files tried first, in this order, after `<vmType>.pid`.
    static let preferredDriverFiles = ["qemu.pid", "vz.pid", "krunkit.pid"]

    /// The host agent's pid file, never the driver's.
    static let hostAgentFile = "ha.pid"

    /// The pid of the process running the VM of the instance in `instanceDir`, or nil when no
    /// driver pid file holds a positive integer (the instance is stopped).
    ///
    /// Tried in order: `<vmType>.pid` when `vmType` is given, then `qemu.pid`, `vz.pid`,
    /// `krunkit.pid`, then any other `*.pid` but `ha.pid`, by name. Surrounding whitespace is
    /// ignored. With VZ the VM runs inside the host agent, so `vz.pid` holds the host agent's
    /// pid. The process is not checked for being alive: Lima deletes stale pid files itself
    /// on `list`, and `HostSampler.process` gives nil for a pid that no longer exists.
    public static func driverPID(instanceDir: String, vmType: String? = nil) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: instanceDir) else { return nil }
        let present = Set(entries.filter { $0.hasSuffix(".pid") && $0 != hostAgentFile })
        let first = vmType.map { ["\($0).pid"] } ?? []
        let named = first + preferredDriverFiles.filter { !first.contains($0) }
        let order = named + present.subtracting(named).sorted()
        let directory = instanceDir.hasSuffix("/") ? instanceDir : instanceDir + "/"
        for name in order where present.contains(name) {
            if let pid = readPID(directory + name) { return pid }
        }
        return nil
    }

    /// The positive integer a pid file holds, nil when it is unreadable or holds anything else.
    static func readPID(_ path: String) -> Int32? {
        guard let data = try? FileBytes.read(path, limit: 64) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), pid > 0 else { return nil }
        return pid
    }
}
