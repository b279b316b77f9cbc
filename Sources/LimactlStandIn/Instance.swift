import Foundation
import Glibc

/// One instance directory, inspected like `store.Inspect`: status comes from the pid files.
struct Instance {
    let name: String
    let dir: String
    var config: LimaConfig?
    /// Set when lima.yaml cannot be read (`os.ErrNotExist` for most callers).
    var missingConfig = false
    var status = ""
    var errors: [String] = []
    var hostAgentPID: Int32 = 0
    var driverPID: Int32 = 0
    var sshLocalPort = 0
    var protected = false
    var limaVersion = ""

    var yamlPath: String { dir + "/lima.yaml" }
    var vmType: String { config?.vmType ?? "" }
    var hostAgentPIDFile: String { dir + "/ha.pid" }
    var driverPIDFile: String { dir + "/\(vmType).pid" }
    var hostname: String {
        "lima-" + name.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
    }

    static func inspect(_ name: String, home: LimaHome) throws -> Instance {
        try InstanceName.validate(name)
        var inst = Instance(name: name, dir: home.dir(name))
        let text: String
        do {
            text = try Sys.readFile(inst.yamlPath)
        } catch {
            inst.missingConfig = true
            inst.status = "Broken"
            inst.errors = ["\(error)"]
            return inst
        }
        do {
            inst.config = try LimaConfig(parsing: text, source: inst.yamlPath)
        } catch {
            inst.errors = ["\(error)"]
            return inst
        }
        let (hostAgent, hostAgentError) = readPID(inst.hostAgentPIDFile)
        let (driver, driverError) = readPID(inst.driverPIDFile)
        inst.hostAgentPID = hostAgent
        inst.driverPID = driver
        inst.errors = [hostAgentError, driverError].compactMap { $0 }
        switch (hostAgent > 0, driver > 0) {
        case _ where !inst.errors.isEmpty: inst.status = "Broken"
        case (true, true): inst.status = "Running"
        case (false, false): inst.status = "Stopped"
        case (true, false):
            inst.status = "Broken"
            inst.errors.append("host agent is running but driver is not")
        case (false, true):
            inst.status = "Broken"
            inst.errors.append("\(inst.vmType) driver is running but host agent is not")
        }
        if let sshConfig = try? Sys.readFile(inst.dir + "/ssh.config") {
            let lines = sshConfig.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            inst.sshLocalPort = lines.first { $0.hasPrefix("Port ") }.flatMap { Int($0.dropFirst(5)) } ?? 0
        }
        inst.protected = Sys.exists(inst.dir + "/protected")
        inst.limaVersion = ((try? Sys.readFile(inst.dir + "/lima-version")) ?? "").trimmingCharacters(
            in: .whitespacesAndNewlines)
        return inst
    }

    /// `store.ReadPIDFile`: 0 for a missing file; a stale file (process gone) is deleted.
    static func readPID(_ path: String) -> (Int32, String?) {
        guard Sys.exists(path) else { return (0, nil) }
        let text: String
        do { text = try Sys.readFile(path) } catch { return (0, "\(error)") }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(trimmed) else {
            return (0, "strconv.Atoi: parsing \(Quoting.goQuote(trimmed)): invalid syntax")
        }
        guard Sys.isAlive(pid) else {
            unlink(path)
            return (0, nil)
        }
        return (pid, nil)
    }

    /// The SSH port the simulated host agent reports: stable per name (60000 + FNV-1a % 5000).
    static func sshPort(for name: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return 60000 + Int(hash % 5000)
    }

    var memoryBytes: Int64 { config.flatMap { ByteSize.parse($0.memory) } ?? 0 }
    var diskBytes: Int64 { config.flatMap { ByteSize.parse($0.disk) } ?? 0 }

    /// One `list --json` line: `store.FormatData` key order, omitempty fields left out, as yq prints it.
    func jsonLine(home: LimaHome) -> String {
        var fields: [String] = []
        func add(_ key: String, _ value: String) { fields.append("\"\(key)\":\(Quoting.json(value, html: false))") }
        func raw(_ key: String, _ json: String) { fields.append("\"\(key)\":\(json)") }
        add("name", name)
        add("hostname", missingConfig ? "" : hostname)
        add("status", status)
        add("dir", dir)
        add("vmType", vmType)
        add("arch", config?.arch ?? "")
        if let config {
            if config.cpus != 0 { raw("cpus", "\(config.cpus)") }
            if memoryBytes != 0 { raw("memory", "\(memoryBytes)") }
            if diskBytes != 0 { raw("disk", "\(diskBytes)") }
        }
        if sshLocalPort != 0 { raw("sshLocalPort", "\(sshLocalPort)") }
        if config != nil { add("sshConfigFile", dir + "/ssh.config") }
        if hostAgentPID > 0 { raw("hostAgentPID", "\(hostAgentPID)") }
        if driverPID > 0 { raw("driverPID", "\(driverPID)") }
        if missingConfig {
            raw("errors", "[{\"Op\":\"open\",\"Path\":\(Quoting.json(yamlPath, html: false)),\"Err\":2}]")
        } else if !errors.isEmpty {
            raw("errors", "[]")  // plain Go errors encode as {}, which the yq pass deletes
        }
        if let config {
            raw("config", config.json)
            add("sshAddress", "127.0.0.1")
        }
        raw("protected", missingConfig || !protected ? "false" : "true")
        add("limaVersion", missingConfig ? "" : limaVersion)
        add("HostOS", "linux")
        add("HostArch", LimaConfig.hostArch)
        add("LimaHome", home.path)
        add("IdentityFile", home.identityFile)
        return "{" + fields.joined(separator: ",") + "}"
    }
}
