import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Drives the built binaries as real processes over real HTTP on loopback.
enum Harness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let binDir = packageRoot.appendingPathComponent(".build/debug")
    static let session = URLSession(configuration: .ephemeral)

    /// The unprivileged user limactl runs as when the tests run as root (`make test` creates it).
    static var devUser: String? {
        guard geteuid() == 0 else { return nil }
        return ProcessInfo.processInfo.environment["LIMAHOST_DEV_USER"] ?? "limahost-dev"
    }

    static func userIDs(_ name: String) -> (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// Waits until `condition` holds, polling; fails the test after `timeout`.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what)")
        throw HarnessError("timed out waiting for \(what)")
    }

    /// Runs blocking work (a process's exit, a pipe read to its end) on a thread of its own.
    /// Every test in the run shares one cooperative pool of two threads: a test that blocks
    /// one for the length of an agent run stalls the polls and timers of every other test.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// `offPool` for work that cannot fail.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A scratch host: templates, LIMA_HOME owned by the unprivileged user, the stand-in as `limactl`.
final class Workspace: @unchecked Sendable {
    let root: URL
    var limaHome: URL { root.appendingPathComponent("lima") }
    var templates: URL { root.appendingPathComponent("templates") }
    /// A directory the "guest" (the stand-in runs commands on the host) can write.
    var shared: URL { root.appendingPathComponent("shared") }
    var limactl: URL { root.appendingPathComponent("bin/limactl") }

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "limahost-it-\(UUID().uuidString.prefix(8))")
        root = base
        let fm = FileManager.default
        for dir in ["lima", "templates", "shared", "bin", "state"] {
            try fm.createDirectory(at: base.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        chmod(base.path, 0o755)
        chmod(shared.path, 0o777)
        for name in ["webapp", "api", "database", "dev"] {
            try fm.copyItem(
                at: Harness.packageRoot.appendingPathComponent("deploy/templates/\(name).yaml"),
                to: templates.appendingPathComponent("\(name).yaml"))
        }
        try fm.copyItem(at: Harness.binDir.appendingPathComponent("limactl-standin"), to: limactl)
        chmod(limactl.path, 0o755)
        if let user = Harness.devUser, let ids = Harness.userIDs(user) {
            chown(limaHome.path, ids.uid, ids.gid)
        }
    }

    func config(url: String, maxConcurrent: Int = 3, extra: [String: Any] = [:]) throws -> URL {
        var object: [String: Any] = [
            "controlPlaneUrl": url, "agentId": "it-agent", "agentName": "integration",
            "vmDataDir": limaHome.path, "limactlPath": limactl.path, "templatesDir": templates.path,
            "stateDir": root.appendingPathComponent("state").path, "maxConcurrentOperations": maxConcurrent,
            "heartbeatInterval": 2000, "pollWait": 1000, "logLevel": "debug",
        ]
        if let user = Harness.devUser { object["limaUser"] = user }
        for (key, value) in extra { object[key] = value }
        let path = root.appendingPathComponent("agent-\(UUID().uuidString.prefix(6)).json")
        try JSONSerialization.data(withJSONObject: object).write(to: path)
        return path
    }

    /// Deletes every VM (their host agents outlive limactl, as Lima's do) and the files.
    func tearDown() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: limaHome.path)) ?? []
        for name in entries where !name.hasPrefix("_") && !name.hasPrefix(".") {
            var arguments = ["--tty=false", "delete", "-f", name]
            var executable = limactl.path
            if let user = Harness.devUser {
                arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--", limactl.path] + arguments
                executable = "/usr/bin/setpriv"
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = ["LIMA_HOME": limaHome.path, "PATH": "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: root)
    }
}

extension Harness {
    /// A scratch workspace and a reference control plane for one test, torn down after it.
    static func withControlPlane(
        serverArguments: [String] = [], _ body: (Workspace, ReferenceServer) async throws -> Void
    ) async throws {
        let workspace = try Workspace()
        do {
            let server = try await ReferenceServer(workspace: workspace, extraArguments: serverArguments)
            defer { server.stop() }
            try await body(workspace, server)
        } catch {
            await offPool { workspace.tearDown() }
            throw error
        }
        await offPool { workspace.tearDown() }
    }
}
