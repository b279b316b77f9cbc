import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Deployment as a systemd service, end to end: `make install-service` and
/// `make uninstall-service` into scratch roots (DESTDIR), the unit under
/// `systemd-analyze`, a private CA through CA_FILE, the sd_notify protocol over a
/// real unix datagram socket, SIGHUP after a log rotation, VMs that outlive the
/// agent, and the shipped templates against Lima's rules and the stand-in.
@Suite("limahost-agent end to end: deployment", .serialized)
struct DeployTests {
    @Test("make install-service into DESTDIR installs the binary, unit, config, templates, dirs, man page, completions")
    func installIntoScratchRoot() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let root = workspace.root.appendingPathComponent("destdir")
        let install = try await runMake("install-service", root: root)
        try #require(install.status == 0, "make install-service exited \(install.status): \(install.both)")

        let expected: [(path: String, isDirectory: Bool, mode: mode_t)] = [
            ("usr/local/bin/limahost-agent", false, 0o755),
            ("etc/systemd/system/limahost-agent.service", false, 0o644),
            ("etc/limahost/agent.json", false, 0o640),
            ("etc/limahost/templates/webapp.yaml", false, 0o644),
            ("etc/limahost/templates/api.yaml", false, 0o644),
            ("etc/limahost/templates/database.yaml", false, 0o644),
            ("etc/limahost/templates/dev.yaml", false, 0o644),
            ("etc/logrotate.d/limahost-agent", false, 0o644),
            ("var/lib/limahost-agent", true, 0o700),
            ("var/lib/limahost-agent/backups", true, 0o700),
            ("var/lib/limahost", true, 0o700),
            ("var/log/limahost-agent", true, 0o750),
        ]
        for entry in expected {
            let path = root.appendingPathComponent(entry.path).path
            guard let found = fileMode(path) else {
                Issue.record("make install-service did not install \(entry.path)")
                continue
            }
            #expect(found.isDirectory == entry.isDirectory, "\(entry.path) is the wrong kind of file")
            #expect(
                found.mode == entry.mode,
                "\(entry.path) has mode \(String(found.mode, radix: 8)), expected \(String(entry.mode, radix: 8))")
        }

        let binary = root.appendingPathComponent("usr/local/bin/limahost-agent").path
        #expect(
            FileManager.default.contentsEqual(atPath: binary, andPath: agentBinary.path),
            "the installed binary is not AGENT_BIN")
        let unit = readText(root.appendingPathComponent("etc/systemd/system/limahost-agent.service"))
        #expect(
            unit.contains("\nExecStart=/usr/local/bin/limahost-agent --config /etc/limahost/agent.json\n"),
            "the unit must start the binary at its PREFIX path, without DESTDIR: \(unit)")
        #expect(!unit.contains(root.path), "DESTDIR leaked into the unit")
        for name in ["webapp", "api", "database", "dev"] {
            let installed = root.appendingPathComponent("etc/limahost/templates/\(name).yaml").path
            let shipped = Harness.packageRoot.appendingPathComponent("deploy/templates/\(name).yaml").path
            #expect(FileManager.default.contentsEqual(atPath: installed, andPath: shipped), "\(name).yaml differs")
        }
        #expect(
            FileManager.default.contentsEqual(
                atPath: root.appendingPathComponent("etc/logrotate.d/limahost-agent").path,
                andPath: Harness.packageRoot.appendingPathComponent("deploy/limahost-agent.logrotate").path),
            "the logrotate file is not deploy/limahost-agent.logrotate")

        // The configuration: config.template.json with the service's user and log file.
        let configFile = root.appendingPathComponent("etc/limahost/agent.json")
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: configFile)) as? [String: Any],
            "agent.json is not a JSON object: \(readText(configFile))")
        #expect(config["limaUser"] as? String == "limahost", "\(config)")
        #expect(config["logFile"] as? String == "/var/log/limahost-agent/agent.log", "\(config)")
        var template = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Harness.packageRoot.appendingPathComponent("config.template.json")))
                as? [String: Any])
        var rest = config
        for key in ["limaUser", "logFile"] {
            template[key] = nil
            rest[key] = nil
        }
        #expect(
            try JSONSerialization.data(withJSONObject: rest, options: [.sortedKeys])
                == JSONSerialization.data(withJSONObject: template, options: [.sortedKeys]),
            "apart from limaUser and logFile agent.json must be config.template.json: \(config)")
        // The installed binary reads it (host checks may fail here: no user limahost, no limactl).
        let check = try await Harness.run(
            binary, ["--check-config", "--config", configFile.path],
            environment: ["LIMAHOST_API_KEY": "deploy-test-key-0123456789", "PATH": "/usr/bin:/bin"])
        #expect(check.status == 0 || check.status == 2, "--check-config exited \(check.status): \(check.both)")
        #expect(check.stdout.contains("limaUser"), "--check-config did not print the configuration: \(check.both)")

        let manPage = readText(root.appendingPathComponent("usr/local/share/man/man8/limahost-agent.8"))
        for fragment in [".TH LIMAHOST-AGENT 8", "\\-\\-drain", "approvals"] {
            #expect(manPage.contains(fragment), "the man page lacks \(fragment): \(manPage.prefix(2000))")
        }
        let bash = readText(root.appendingPathComponent("usr/local/share/bash-completion/completions/limahost-agent"))
        #expect(bash.contains("approvals") && bash.contains("--drain"), "bash completion: \(bash.prefix(2000))")
        for path in [
            "usr/local/share/zsh/site-functions/_limahost-agent",
            "usr/local/share/fish/vendor_completions.d/limahost-agent.fish",
        ] {
            #expect(!readText(root.appendingPathComponent(path)).isEmpty, "\(path) is missing or empty")
        }
    }

    @Test("The unit passes systemd-analyze verify, its exposure is at most 5.0, and it is a hardened notify service")
    func unitPassesSystemdAnalyze() async throws {
        try Harness.requireExecutable(systemdAnalyze, package: "systemd")
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let root = workspace.root.appendingPathComponent("destdir")
        let install = try await runMake("install-service", root: root)
        try #require(install.status == 0, "make install-service exited \(install.status): \(install.both)")

        // A copy whose ExecStart is the scratch binary: verify checks that it exists and is executable.
        let installed = readText(root.appendingPathComponent("etc/systemd/system/limahost-agent.service"))
        let scratchBinary = root.appendingPathComponent("usr/local/bin/limahost-agent").path
        let copy = installed.replacingOccurrences(
            of: "\nExecStart=/usr/local/bin/limahost-agent ", with: "\nExecStart=\(scratchBinary) ")
        try #require(copy.contains("\nExecStart=\(scratchBinary) "), "no ExecStart to rewrite: \(installed)")
        let unitDir = workspace.root.appendingPathComponent("unit")
        try FileManager.default.createDirectory(at: unitDir, withIntermediateDirectories: true)
        let unitFile = unitDir.appendingPathComponent("limahost-agent.service")
        try copy.write(to: unitFile, atomically: false, encoding: .utf8)

        let verify = try await Harness.run(systemdAnalyze, ["verify", "--man=no", unitFile.path])
        #expect(verify.status == 0, "systemd-analyze verify exited \(verify.status): \(verify.both)")
        // verify exits 0 on unknown keys and unparsable values too; it names the file in those warnings.
        let complaints = verify.both.split(separator: "\n").filter { $0.contains("limahost-agent.service") }
        #expect(complaints.isEmpty, "systemd-analyze verify complains: \(complaints)")

        let security = try await Harness.run(systemdAnalyze, ["security", "--offline=true", unitFile.path])
        #expect(security.status == 0, "systemd-analyze security exited \(security.status): \(security.both)")
        let score = try #require(
            exposureLevel(security.stdout), "no \"Overall exposure level\" in: \(security.both.suffix(2000))")
        #expect(score <= 5.0, "overall exposure level \(score) is above 5.0: \(security.stdout.suffix(6000))")

        let service = serviceSettings(installed)
        #expect(service["Type"] == ["notify"], "Type: \(service["Type"] ?? [])")
        let watchdog = try #require(service["WatchdogSec"]?.last, "no WatchdogSec")
        #expect((systemdSeconds(watchdog) ?? 0) > 0, "WatchdogSec=\(watchdog)")
        #expect(service["KillMode"] == ["process"], "KillMode: \(service["KillMode"] ?? [])")
        #expect(service["NoNewPrivileges"] == ["yes"], "NoNewPrivileges: \(service["NoNewPrivileges"] ?? [])")
        #expect(service["ProtectSystem"] == ["strict"], "ProtectSystem: \(service["ProtectSystem"] ?? [])")
        #expect(service["User"] == ["limahost"], "User: \(service["User"] ?? [])")
        #expect(
            service["ExecReload"]?.last?.contains("-HUP $MAINPID") == true,
            "ExecReload must send SIGHUP: \(service["ExecReload"] ?? [])")
        let stopText = try #require(service["TimeoutStopSec"]?.last, "no TimeoutStopSec")
        let stop = try #require(systemdSeconds(stopText), "TimeoutStopSec=\(stopText) is not a time span")
        let defaults = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Harness.packageRoot.appendingPathComponent("config.template.json")))
                as? [String: Any])
        let drainTimeout = try #require(defaults["drainTimeout"] as? Int, "config.template.json: no drainTimeout")
        #expect(
            stop > Double(drainTimeout) / 1000,
            "TimeoutStopSec=\(stopText) (\(stop) s) must exceed the default drainTimeout (\(drainTimeout) ms)")
    }

    @Test("A second install keeps an edited agent.json; uninstall keeps config and state, PURGE=1 removes them")
    func reinstallAndUninstall() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let root = workspace.root.appendingPathComponent("destdir")
        let first = try await runMake("install-service", root: root)
        try #require(first.status == 0, "make install-service exited \(first.status): \(first.both)")
        let configFile = root.appendingPathComponent("etc/limahost/agent.json")
        let edited = Data(#"{"edited": true}"#.utf8)
        try edited.write(to: configFile)

        let second = try await runMake("install-service", root: root)
        try #require(second.status == 0, "the second make install-service exited \(second.status): \(second.both)")
        #expect(try Data(contentsOf: configFile) == edited, "a second install overwrote agent.json")
        // State and a VM's data, as the running service would have left them.
        let state = root.appendingPathComponent("var/lib/limahost-agent/agent.sqlite")
        try Data("state".utf8).write(to: state)
        let vmDisk = root.appendingPathComponent("var/lib/limahost/.lima/vm1/disk")
        try FileManager.default.createDirectory(
            at: vmDisk.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("disk".utf8).write(to: vmDisk)

        let uninstall = try await runMake("uninstall-service", root: root)
        #expect(uninstall.status == 0, "make uninstall-service exited \(uninstall.status): \(uninstall.both)")
        for path in [
            "usr/local/bin/limahost-agent", "etc/systemd/system/limahost-agent.service",
            "etc/logrotate.d/limahost-agent", "usr/local/share/man/man8/limahost-agent.8",
            "usr/local/share/bash-completion/completions/limahost-agent",
            "usr/local/share/zsh/site-functions/_limahost-agent",
            "usr/local/share/fish/vendor_completions.d/limahost-agent.fish",
            "etc/limahost/templates/webapp.yaml", "etc/limahost/templates/api.yaml",
            "etc/limahost/templates/database.yaml", "etc/limahost/templates/dev.yaml", "etc/limahost/templates",
        ] {
            #expect(!fileExists(root.appendingPathComponent(path).path), "uninstall left \(path)")
        }
        #expect(try Data(contentsOf: configFile) == edited, "uninstall must keep agent.json as it was")
        for path in [
            "var/lib/limahost-agent", "var/lib/limahost-agent/backups", "var/lib/limahost", "var/log/limahost-agent",
        ] {
            #expect(fileMode(root.appendingPathComponent(path).path)?.isDirectory == true, "uninstall removed \(path)")
        }
        #expect(fileExists(state.path) && fileExists(vmDisk.path), "uninstall removed the state or a VM's data")

        let purge = try await runMake("uninstall-service", root: root, ["PURGE": "1"])
        #expect(purge.status == 0, "make uninstall-service PURGE=1 exited \(purge.status): \(purge.both)")
        for path in ["etc/limahost", "var/lib/limahost-agent", "var/lib/limahost", "var/log/limahost-agent"] {
            #expect(!fileExists(root.appendingPathComponent(path).path), "PURGE=1 left \(path)")
        }
    }

    @Test("CA_FILE installs the control plane's CA into DESTDIR's trust store, and uninstall takes it out again")
    func caFileIntoTrustStore() async throws {
        try Harness.requireExecutable(Harness.openssl, package: "openssl")
        try Harness.requireExecutable("/usr/sbin/update-ca-certificates", package: "ca-certificates")
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let caDir = workspace.root.appendingPathComponent("ca")
        try FileManager.default.createDirectory(at: caDir, withIntermediateDirectories: true)
        try await Harness.runChecked(
            Harness.openssl,
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                "-subj", "/CN=limahost deploy test CA \(UUID().uuidString.prefix(8))",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: caDir)
        let caFile = caDir.appendingPathComponent("ca.crt")
        let body = try #require(pemBodies(readText(caFile)).first, "openssl wrote no certificate")

        let root = workspace.root.appendingPathComponent("destdir")
        let install = try await runMake("install-service", root: root, ["CA_FILE": caFile.path])
        try #require(install.status == 0, "make install-service CA_FILE=… exited \(install.status): \(install.both)")
        let installedCA = root.appendingPathComponent("usr/local/share/ca-certificates/limahost-control-plane.crt")
        #expect(
            FileManager.default.contentsEqual(atPath: installedCA.path, andPath: caFile.path),
            "\(installedCA.path) is missing or not CA_FILE")
        let bundle = root.appendingPathComponent("etc/ssl/certs/ca-certificates.crt")
        let bundled = pemBodies(readText(bundle))
        #expect(bundled.contains(body), "ca-certificates.crt (\(bundled.count) certificates) lacks the CA")
        #expect(bundled.count > 1, "ca-certificates.crt must hold the system's CAs as well")

        let uninstall = try await runMake("uninstall-service", root: root)
        #expect(uninstall.status == 0, "make uninstall-service exited \(uninstall.status): \(uninstall.both)")
        #expect(!fileExists(installedCA.path), "uninstall left \(installedCA.path)")
        #expect(!pemBodies(readText(bundle)).contains(body), "ca-certificates.crt still holds the CA after uninstall")
    }

    @Test("sd_notify: READY=1 only once registered, WATCHDOG=1 pings, STOPPING=1 and EXTEND_TIMEOUT_USEC on SIGTERM")
    func systemdNotifyProtocol() async throws {
        try await Harness.withControlPlane { workspace, server in
            let notify = try NotifySocket(path: workspace.root.appendingPathComponent("notify.sock").path)
            // Registration is refused until the test lifts the fault: READY=1 must wait for it.
            try await server.addFault(["endpoint": "register", "kind": "status", "status": 503, "count": 1000])
            let agent = try AgentProcess(
                workspace: workspace, config: try workspace.config(url: server.url), key: server.key,
                environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])
            defer { agent.ensureStopped() }
            try await notify.collect("two refused registrations", timeout: .seconds(15)) { _ in
                guard agent.isRunning else { throw HarnessError("the agent exited: \(agent.stderrTail())") }
                return try await server.applied(status: 503) >= 2
            }
            #expect(!notify.lines.contains("READY=1"), "READY=1 before the agent registered: \(notify.lines)")
            try await server.clearFaults(status: 503)

            try await notify.collect("READY=1", timeout: .seconds(20)) { lines in lines.contains("READY=1") }
            #expect(try await registrationCount(server) >= 1, "READY=1 came, but the agent never registered")
            let ready = try #require(notify.lines.firstIndex(of: "READY=1"))
            try await notify.collect("two WATCHDOG=1 after READY=1", timeout: .seconds(10)) { lines in
                lines[(ready + 1)...].filter { $0 == "WATCHDOG=1" }.count >= 2
            }
            #expect(notify.lines.filter { $0 == "READY=1" }.count == 1, "READY=1 more than once: \(notify.lines)")

            // A job runs when SIGTERM comes, so the agent drains while it tells systemd so.
            let marker = workspace.shared.appendingPathComponent("started").path
            try await server.enqueue([
                ["id": "create", "type": "create_vm", "vmName": "n1", "template": "webapp"],
                [
                    "id": "slow", "type": "execute_command", "vmName": "n1", "timeout": 60_000,
                    "command": "touch \(marker); sleep 3; echo done",
                ],
            ])
            try await Harness.waitUntil("the job to start", timeout: .seconds(20)) { fileExists(marker) }
            notify.readPending()
            #expect(!notify.lines.contains("STOPPING=1"), "STOPPING=1 before any signal: \(notify.lines)")
            let beforeSignal = notify.lines.count
            agent.send(SIGTERM)
            try await notify.collect("STOPPING=1 and EXTEND_TIMEOUT_USEC after SIGTERM", timeout: .seconds(15)) {
                lines in
                let after = lines[beforeSignal...]
                return after.contains("STOPPING=1") && after.contains { $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }
            }
            let extensions = notify.lines.filter { $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }
                .map { Int($0.dropFirst("EXTEND_TIMEOUT_USEC=".count)) }
            #expect(
                !extensions.isEmpty && extensions.allSatisfy { ($0 ?? 0) >= 60_000_000 },
                "EXTEND_TIMEOUT_USEC must ask for at least 60 s: \(extensions)")
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
            let result = try await server.result("slow")
            #expect(result["status"] as? String == "succeeded", "the drain must let the job finish: \(result)")
        }
    }

    @Test("SIGHUP reopens logFile after logrotate renamed it; the next job is logged there and the agent runs on")
    func hangupReopensLogFile() async throws {
        try await Harness.withControlPlane { workspace, server in
            let log = workspace.root.appendingPathComponent("agent.log")
            let rotated = workspace.root.appendingPathComponent("agent.log.1")
            let config = try workspace.config(url: server.url, extra: ["logFile": log.path])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            // A heartbeat: the services run, the SIGHUP handler among them.
            try await Harness.waitUntil("a heartbeat, and lines in logFile", timeout: .seconds(20)) {
                guard agent.isRunning else { throw HarnessError("the agent exited: \(agent.stderrTail())") }
                return try await server.heartbeatState() != nil && !readText(log).isEmpty
            }

            try FileManager.default.moveItem(at: log, to: rotated)  // rename(2), as logrotate does
            agent.send(SIGHUP)
            try await Harness.waitUntil("the agent to open a new agent.log", timeout: .seconds(10)) {
                guard agent.isRunning else { throw HarnessError("SIGHUP ended the agent: \(agent.stderrTail())") }
                return fileExists(log.path)
            }
            try await server.enqueue([["id": "after-hup", "type": "list_vms"]])
            try await Harness.waitUntil("the job to finish", timeout: .seconds(20)) {
                try await server.allFinished(["after-hup"])
            }
            #expect(try await server.result("after-hup")["status"] as? String == "succeeded")

            // The line is written before the result is handed on, so it is in the file by now.
            let fresh = readText(log)
            #expect(
                fresh.split(separator: "\n").contains {
                    $0.contains(" info job finished ") && $0.contains(" job=after-hup ")
                }, "the new agent.log has no info line \"job finished\" for after-hup: \(fresh.suffix(4000))")
            let old = readText(rotated)
            #expect(old.contains("agent started"), "the rotated file lost its lines: \(old.prefix(2000))")
            #expect(!old.contains("job=after-hup"), "a line about the job went to the rotated file")
            if let mode = fileMode(log.path)?.mode {
                #expect(mode & 0o007 == 0, "the new log file is open to others: \(String(mode, radix: 8))")
            }
            #expect(agent.isRunning, "SIGHUP must not stop the agent: \(agent.stderrTail())")
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }

    @Test("VMs outlive the agent: after SIGTERM their driver and host agent run on, and the VM is still Running")
    func vmsOutliveTheAgent() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url)
            try await server.enqueue([["id": "create", "type": "create_vm", "vmName": "stays", "template": "webapp"]])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("the VM to be created", timeout: .seconds(20)) {
                guard agent.isRunning else { throw HarnessError("the agent exited: \(agent.stderrTail())") }
                return try await server.allFinished(["create"])
            }
            let created = try await server.result("create")
            try #require(created["status"] as? String == "succeeded", "\(created)")
            let data = created["data"] as? [String: Any] ?? [:]
            #expect(data["status"] as? String == "Running", "\(created)")
            let vmType = try #require(data["vmType"] as? String, "\(created)")
            let instance = workspace.limaHome.appendingPathComponent("stays")
            let driverFile = instance.appendingPathComponent("\(vmType).pid")
            let hostAgentFile = instance.appendingPathComponent("ha.pid")
            let driver = try #require(pidIn(driverFile), "no pid in \(driverFile.path)")
            let hostAgent = try #require(pidIn(hostAgentFile), "no pid in \(hostAgentFile.path)")
            try #require(isLiveProcess(driver) && isLiveProcess(hostAgent), "the VM's processes do not run")

            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
            #expect(isLiveProcess(driver), "the driver (pid \(driver)) did not outlive the agent")
            #expect(isLiveProcess(hostAgent), "the host agent (pid \(hostAgent)) did not outlive the agent")
            #expect(pidIn(driverFile) == driver && pidIn(hostAgentFile) == hostAgent, "the pid files changed")

            try await server.enqueue([["id": "info", "type": "get_vm_info", "vmName": "stays"]])
            let second = try AgentProcess(workspace: workspace, config: config, key: server.key, drain: true)
            defer { second.ensureStopped() }
            #expect(try await second.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(second.stderrTail())")
            let info = try await server.result("info")
            #expect(info["status"] as? String == "succeeded", "\(info)")
            #expect((info["data"] as? [String: Any])?["status"] as? String == "Running", "\(info)")
        }
    }

    @Test("Each shipped template follows Lima's rules, fits resourceLimits, and the stand-in creates a VM from it")
    func templatesFollowLimasRules() async throws {
        let directory = Harness.packageRoot.appendingPathComponent("deploy/templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["api.yaml", "database.yaml", "dev.yaml", "webapp.yaml"], "deploy/templates: \(files)")
        let limits: [String: Int] = [
            "maxTotalCpu": 64, "maxTotalMemory": 128, "maxTotalDisk": 1000, "maxVmsPerAgent": 10,
            "maxMemoryPerVm": 16, "maxDiskPerVm": 100, "maxCpuPerVm": 8,
        ]
        var resources: [String: (cpus: Int, memory: Double, disk: Double)] = [:]
        for file in files {
            let text = readText(directory.appendingPathComponent(file))
            let template = TemplateText(text)
            let images = template.lists["images"] ?? []
            for arch in ["x86_64", "aarch64"] {
                #expect(
                    images.contains { $0["arch"] == arch && ($0["location"] ?? "").hasPrefix("https://") },
                    "\(file): no https:// image for arch \(arch): \(images)")
            }
            #expect(
                images.allSatisfy { ($0["location"] ?? "").hasPrefix("https://") && $0["arch"] != nil },
                "\(file): every image needs an https:// location and an arch: \(images)")
            let vmType = template.scalars["vmType"]
            #expect(vmType == nil || vmType == "qemu", "\(file): vmType \(vmType ?? "") does not run on Linux")
            let provision = template.lists["provision"] ?? []
            #expect(
                provision.contains { $0["mode"] == "system" && $0["script"] != nil },
                "\(file): no provision script with mode: system: \(provision)")

            let cpus = template.scalars["cpus"].flatMap { Int($0) }
            let memory = template.scalars["memory"].flatMap(gibibytes)
            let disk = template.scalars["disk"].flatMap(gibibytes)
            guard let cpus, let memory, let disk else {
                Issue.record("\(file): cpus, memory and disk must be set: \(template.scalars)")
                continue
            }
            #expect(cpus >= 1 && cpus <= limits["maxCpuPerVm", default: 0], "\(file): cpus \(cpus)")
            #expect(memory > 0 && memory <= Double(limits["maxMemoryPerVm", default: 0]), "\(file): memory \(memory)")
            #expect(disk > 0 && disk <= Double(limits["maxDiskPerVm", default: 0]), "\(file): disk \(disk)")
            resources[String(file.dropLast(".yaml".count))] = (cpus, memory, disk)
        }
        #expect(resources.count <= limits["maxVmsPerAgent", default: 0])
        #expect(resources.values.map { $0.cpus }.reduce(0, +) <= limits["maxTotalCpu", default: 0])
        #expect(resources.values.map { $0.memory }.reduce(0, +) <= Double(limits["maxTotalMemory", default: 0]))
        #expect(resources.values.map { $0.disk }.reduce(0, +) <= Double(limits["maxTotalDisk", default: 0]))
        try #require(!resources.isEmpty, "no template could be read")

        let figures = resources
        try await Harness.withControlPlane { workspace, server in
            let names = figures.keys.sorted()
            try await server.enqueue(
                names.map { name -> [String: Any] in
                    ["id": "create-\(name)", "type": "create_vm", "vmName": "tpl-\(name)", "template": name]
                })
            let config = try workspace.config(url: server.url, extra: ["resourceLimits": limits])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key, drain: true)
            defer { agent.ensureStopped() }
            #expect(try await agent.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(agent.stderrTail())")
            let gib = 1 << 30
            for name in names {
                let result = try await server.result("create-\(name)")
                #expect(result["status"] as? String == "succeeded", "\(name): \(result)")
                guard let data = result["data"] as? [String: Any], let wanted = figures[name] else {
                    Issue.record("\(name): the create result has no VM: \(result)")
                    continue
                }
                // The stand-in read the template's own figures.
                #expect(data["status"] as? String == "Running", "\(name): \(data)")
                #expect(data["cpus"] as? Int == wanted.cpus, "\(name): \(data)")
                #expect(data["memoryBytes"] as? Int == Int(wanted.memory * Double(gib)), "\(name): \(data)")
                #expect(data["diskBytes"] as? Int == Int(wanted.disk * Double(gib)), "\(name): \(data)")
            }
        }
    }
}

private let systemdAnalyze = "/usr/bin/systemd-analyze"

/// What `make install-service` installs as AGENT_BIN: the agent the other tests run.
private var agentBinary: URL { Harness.binDir.appendingPathComponent("limahost-agent") }

/// `make -C <package> target` with DESTDIR=`root` (and AGENT_BIN), never without a scratch root.
private func runMake(_ target: String, root: URL, _ extra: [String: String] = [:]) async throws -> ProcessOutput {
    let path = root.standardizedFileURL.path
    guard path.hasPrefix("/"), path.split(separator: "/").count >= 2 else {
        throw HarnessError("refusing to run make \(target) with DESTDIR=\(path): not a scratch root")
    }
    try Harness.requireExecutable("/usr/bin/make", package: "make")
    var environment = ProcessInfo.processInfo.environment
    // Nothing from the outside may steer the scripts (a real PREFIX, PURGE, CA_FILE, make's own flags).
    for name in [
        "DESTDIR", "PREFIX", "AGENT_BIN", "CA_FILE", "PURGE", "SERVICE_USER", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
    ] {
        environment[name] = nil
    }
    environment["DESTDIR"] = path
    environment["AGENT_BIN"] = agentBinary.path
    for (name, value) in extra { environment[name] = value }
    return try await Harness.run("/usr/bin/make", ["-C", Harness.packageRoot.path, target], environment: environment)
}

/// A file's contents as text, empty when it cannot be read.
private func readText(_ url: URL) -> String {
    (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}

/// Whether `path` itself (no symlink followed) is a directory, and its permission bits.
private func fileMode(_ path: String) -> (isDirectory: Bool, mode: mode_t)? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return ((info.st_mode & S_IFMT) == S_IFDIR, info.st_mode & 0o7777)
}

/// The base64 bodies of the PEM certificates in `text`, each without line breaks.
private func pemBodies(_ text: String) -> [String] {
    var bodies: [String] = []
    var current: String?
    for line in text.split(whereSeparator: \.isNewline) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed == "-----BEGIN CERTIFICATE-----" {
            current = ""
        } else if trimmed == "-----END CERTIFICATE-----" {
            if let body = current { bodies.append(body) }
            current = nil
        } else if let body = current {
            current = body + trimmed
        }
    }
    return bodies
}

/// The number in `systemd-analyze security`'s "Overall exposure level for X.service: 3.3 OK".
private func exposureLevel(_ output: String) -> Double? {
    guard let marker = output.range(of: "Overall exposure level for ") else { return nil }
    let rest = output[marker.upperBound...]
    guard let colon = rest.range(of: ": ") else { return nil }
    let number = rest[colon.upperBound...].prefix { $0.isNumber || $0 == "." }
    return Double(number)
}

/// The `[Service]` section's settings, every value of a key in order (`DeviceAllow=` repeats).
private func serviceSettings(_ unit: String) -> [String: [String]] {
    var settings: [String: [String]] = [:]
    var inService = false
    for raw in unit.split(whereSeparator: \.isNewline) {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
        if line.hasPrefix("[") {
            inService = line == "[Service]"
            continue
        }
        guard inService, let equals = line.firstIndex(of: "=") else { continue }
        let key = line[..<equals].trimmingCharacters(in: .whitespaces)
        let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        settings[key, default: []].append(value)
    }
    return settings
}

/// A systemd time span (`12min`, `90s`, `1min 30s`, `5m`; a bare number is seconds) in seconds.
private func systemdSeconds(_ text: String) -> Double? {
    let units: [String: Double] = [
        "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1,
        "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
        "d": 86400, "day": 86400, "days": 86400,
    ]
    var rest = Substring(text.trimmingCharacters(in: .whitespaces))
    guard !rest.isEmpty else { return nil }
    var total = 0.0
    while !rest.isEmpty {
        let digits = rest.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits) else { return nil }
        rest = rest.dropFirst(digits.count).drop { $0 == " " }
        let unit = rest.prefix { $0.isLetter }
        guard let factor = unit.isEmpty ? 1 : units[String(unit)] else { return nil }
        total += value * factor
        rest = rest.dropFirst(unit.count).drop { $0 == " " }
    }
    return total
}

/// The `registrations` the reference control plane counted for the test agent.
private func registrationCount(_ server: ReferenceServer) async throws -> Int {
    let stats = try await server.admin("GET", "/admin/stats")
    let agent = (stats["agents"] as? [String: Any])?["it-agent"] as? [String: Any]
    return agent?["registrations"] as? Int ?? 0
}

/// The pid in a pid file, nil when there is none.
private func pidIn(_ file: URL) -> pid_t? {
    pid_t(readText(file).trimmingCharacters(in: .whitespacesAndNewlines))
}

/// Whether `pid` runs: kill(pid, 0) succeeds and /proc does not show a zombie.
private func isLiveProcess(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let paren = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: paren)...].drop { $0 == " " }.first
    return state != nil && state != "Z" && state != "X"
}

/// `4GiB`, `512MiB`, `1TiB` or `4G` in GiB.
private func gibibytes(_ text: String) -> Double? {
    let units: [(String, Double)] = [
        ("TiB", 1024), ("GiB", 1), ("MiB", 1.0 / 1024), ("T", 1024), ("G", 1), ("M", 1.0 / 1024),
    ]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        return Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
    }
    return nil
}

/// A Lima template read as far as these tests need, without a YAML library: the top-level
/// scalars (`cpus: 2`, `memory: "4GiB"`) and the top-level lists of mappings (`images:`,
/// `provision:`), each item's fields at its own indentation (a block scalar's lines are deeper).
private struct TemplateText {
    let scalars: [String: String]
    let lists: [String: [[String: String]]]

    init(_ text: String) {
        var scalars: [String: String] = [:]
        var lists: [String: [[String: String]]] = [:]
        var list: String?
        var items: [[String: String]] = []
        var itemIndent: Int?
        var fieldIndent: Int?
        func finishList() {
            if let list { lists[list] = items }
            list = nil
            items = []
            itemIndent = nil
            fieldIndent = nil
        }
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent == 0 && !trimmed.hasPrefix("- ") {
                finishList()
                guard let pair = Self.keyValue(trimmed) else { continue }
                if pair.value.isEmpty { list = pair.key } else { scalars[pair.key] = pair.value }
                continue
            }
            guard list != nil else { continue }
            if trimmed.hasPrefix("- ") && (itemIndent == nil || itemIndent == indent) {
                itemIndent = indent
                fieldIndent = indent + 2
                var item: [String: String] = [:]
                if let pair = Self.keyValue(String(trimmed.dropFirst(2))) { item[pair.key] = pair.value }
                items.append(item)
            } else if indent == fieldIndent, !items.isEmpty, let pair = Self.keyValue(trimmed) {
                items[items.count - 1][pair.key] = pair.value
            }
        }
        finishList()
        self.scalars = scalars
        self.lists = lists
    }

    /// `key: value` (the value unquoted, empty for `key:`), nil for anything else.
    private static func keyValue(_ text: String) -> (key: String, value: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let key = String(text[..<colon])
        guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        let after = text[text.index(after: colon)...]
        guard after.isEmpty || after.first == " " else { return nil }
        var value = after.trimmingCharacters(in: .whitespaces)
        if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
            value = String(value.dropFirst().dropLast())
        }
        return (key, value)
    }
}

/// systemd's side of sd_notify: a unix datagram socket bound in the workspace, read with
/// blocking receives that time out after 1 s.
private final class NotifySocket: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    /// Every line received so far (`READY=1`, `WATCHDOG=1`, `STATUS=…`), in arrival order.
    private(set) var lines: [String] = []

    init(path: String) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw HarnessError("\(path) is too long for a unix socket address")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("bind(\(path)): \(reason)")
        }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("setsockopt(SO_RCVTIMEO): \(reason)")
        }
        descriptor = fd
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Receives until `done` holds for the lines so far; fails the test after `timeout`.
    func collect(
        _ what: String, timeout: Duration, until done: ([String]) async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if try await done(lines) { return }
            guard clock.now < deadline else {
                Issue.record("timed out waiting for \(what); received: \(lines)")
                throw HarnessError("timed out waiting for \(what)")
            }
            if let datagram = receive(flags: 0) { append(datagram) }
        }
    }

    /// Takes in every datagram already waiting, without blocking.
    func readPending() {
        while let datagram = receive(flags: Int32(MSG_DONTWAIT)) { append(datagram) }
    }

    private func append(_ datagram: String) {
        lines += datagram.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// One datagram; nil when none came within the receive timeout (or none waits, with MSG_DONTWAIT).
    private func receive(flags: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, flags) }
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}
