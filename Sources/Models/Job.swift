import Foundation

/// A job as claimed (§4.1): the envelope plus its type's parameters.
///
/// Decoding goes through `JobDecoder`, which is strict about what a job needs
/// (typed `JobValidationError`s that name the field) and ignores unknown fields.
public struct Job: Sendable, Equatable {
    public var id: String
    public var attempt: Int
    public var leaseExpiresAt: Date
    /// The job's whole running-time limit in ms; the agent caps it and has per-type defaults.
    public var timeout: Int?
    public var keyId: String?
    public var signature: String?
    public var parameters: JobParameters

    public var type: JobType { parameters.type }
    public var ref: JobRef { JobRef(jobId: id, attempt: attempt) }

    public init(
        id: String, attempt: Int, leaseExpiresAt: Date, timeout: Int? = nil, keyId: String? = nil,
        signature: String? = nil, parameters: JobParameters
    ) {
        self.id = id
        self.attempt = attempt
        self.leaseExpiresAt = leaseExpiresAt
        self.timeout = timeout
        self.keyId = keyId
        self.signature = signature
        self.parameters = parameters
    }
}

extension Job: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        switch JobDecoder.decode(value) {
        case .valid(let job): self = job
        case .invalid(let rejection): throw rejection.error
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONValue.object(wireObject()).encode(to: encoder)
    }

    /// The flat wire form: envelope fields and parameters side by side.
    public func wireObject() -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "id": .string(id),
            "type": .string(type.rawValue),
            "attempt": .int(Int64(attempt)),
            "leaseExpiresAt": .string(RFC3339.format(leaseExpiresAt)),
        ]
        if let timeout { object["timeout"] = .int(Int64(timeout)) }
        if let keyId { object["keyId"] = .string(keyId) }
        if let signature { object["signature"] = .string(signature) }
        for (key, value) in parameterFields() { object[key] = value }
        return object
    }

    private func parameterFields() -> [String: JSONValue] {
        switch parameters {
        case .createVM(let p):
            var config: [String: JSONValue] = ["start": .bool(p.config.start)]
            if let cpus = p.config.cpus { config["cpus"] = .int(Int64(cpus)) }
            if let memory = p.config.memory { config["memory"] = Job.number(memory) }
            if let disk = p.config.disk { config["disk"] = Job.number(disk) }
            return ["vmName": .string(p.vmName), "template": .string(p.template), "config": .object(config)]
        case .startVM(let p), .restartVM(let p), .getVMInfo(let p):
            return ["vmName": .string(p.vmName)]
        case .stopVM(let p):
            return ["vmName": .string(p.vmName), "force": .bool(p.force)]
        case .deleteVM(let p):
            return ["vmName": .string(p.vmName), "force": .bool(p.force)]
        case .executeCommand(let p):
            var fields: [String: JSONValue] = ["vmName": .string(p.vmName)]
            switch p.command {
            case .shell(let command): fields["command"] = .string(command)
            case .argv(let argv): fields["argv"] = .array(argv.map(JSONValue.string))
            }
            if let workdir = p.workdir { fields["workdir"] = .string(workdir) }
            if !p.env.isEmpty { fields["env"] = .object(p.env.mapValues(JSONValue.string)) }
            return fields
        case .listVMs:
            return [:]
        case .backupVM(let p):
            return [
                "vmName": .string(p.vmName), "backupPath": .string(p.backupPath),
                "stopIfRunning": .bool(p.stopIfRunning),
            ]
        case .restoreVM(let p):
            var fields: [String: JSONValue] = [
                "vmName": .string(p.vmName), "backupPath": .string(p.backupPath), "start": .bool(p.start),
            ]
            if let sha256 = p.sha256 { fields["sha256"] = .string(sha256) }
            return fields
        case .collectLogs(let p):
            return ["vmName": .string(p.vmName), "lines": .int(Int64(p.lines))]
        }
    }

    private static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 1e15 { return .int(Int64(value)) }
        return .double(value)
    }
}
