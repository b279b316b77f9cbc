import Foundation

/// Turns a delivered job's raw JSON into a `Job`, or a `JobRejection` that names
/// the first field at fault. Unknown fields are ignored; nothing here throws or traps.
public enum JobDecoder {
    public static func decode(_ value: JSONValue) -> JobDecoding {
        guard let object = value.objectValue else {
            return .invalid(
                JobRejection(
                    id: nil, attempt: nil, type: nil,
                    error: JobValidationError(field: "job", reason: "must be an object, got \(value.kindName)")))
        }
        let fields = FieldReader(object: object, prefix: "")
        let rawID = object["id"].flatMap { if case .string(let s) = $0 { s } else { nil } }
        let rawAttempt = object["attempt"].flatMap { if case .int(let n) = $0 { Int(n) } else { nil } }
        let rawType = object["type"].flatMap { if case .string(let s) = $0 { s } else { nil } }
        do {
            let job = try decodeJob(fields)
            return .valid(job)
        } catch {
            return .invalid(JobRejection(id: rawID, attempt: rawAttempt, type: rawType, error: error))
        }
    }

    private static func decodeJob(_ fields: FieldReader) throws(JobValidationError) -> Job {
        let id = try fields.string("id")
        if let problem = WireRules.jobIDProblem(id) {
            throw JobValidationError(field: "id", reason: problem)
        }
        let attempt = try fields.integer("attempt", minimum: 1)
        let typeName = try fields.string("type")
        guard let type = JobType(rawValue: typeName) else {
            throw JobValidationError(
                field: "type", reason: "unknown job type \"\(typeName)\"", code: .unsupportedJobType)
        }
        let lease = try fields.date("leaseExpiresAt")
        let timeout = try fields.optionalInteger("timeout", minimum: 1)
        let keyId = try fields.optionalString("keyId")
        let signature = try fields.optionalString("signature")
        let parameters = try decodeParameters(type, fields)
        return Job(
            id: id, attempt: attempt, leaseExpiresAt: lease, timeout: timeout, keyId: keyId,
            signature: signature, parameters: parameters)
    }

    private static func decodeParameters(
        _ type: JobType, _ fields: FieldReader
    ) throws(JobValidationError) -> JobParameters {
        switch type {
        case .createVM:
            let config = try fields.optionalObject("config")
            return .createVM(
                .init(
                    vmName: try fields.vmName(), template: try fields.string("template"),
                    config: .init(
                        cpus: try config?.optionalInteger("cpus", minimum: 1),
                        memory: try config?.optionalPositiveNumber("memory"),
                        disk: try config?.optionalPositiveNumber("disk"),
                        start: try config?.optionalBool("start") ?? true)))
        case .startVM:
            return .startVM(.init(vmName: try fields.vmName()))
        case .stopVM:
            return .stopVM(.init(vmName: try fields.vmName(), force: try fields.optionalBool("force") ?? false))
        case .restartVM:
            return .restartVM(.init(vmName: try fields.vmName()))
        case .deleteVM:
            return .deleteVM(.init(vmName: try fields.vmName(), force: try fields.optionalBool("force") ?? false))
        case .executeCommand:
            return .executeCommand(try decodeExecute(fields))
        case .getVMInfo:
            return .getVMInfo(.init(vmName: try fields.vmName()))
        case .listVMs:
            return .listVMs
        case .backupVM:
            return .backupVM(
                .init(
                    vmName: try fields.vmName(), backupPath: try fields.string("backupPath"),
                    stopIfRunning: try fields.optionalBool("stopIfRunning") ?? true))
        case .restoreVM:
            return .restoreVM(
                .init(
                    backupPath: try fields.string("backupPath"), vmName: try fields.vmName(),
                    start: try fields.optionalBool("start") ?? false, sha256: try fields.optionalString("sha256")))
        case .collectLogs:
            return .collectLogs(
                .init(
                    vmName: try fields.vmName(),
                    lines: try fields.optionalInteger("lines", minimum: 1)
                        ?? JobParameters.CollectLogs.defaultLines))
        }
    }

    private static func decodeExecute(
        _ fields: FieldReader
    ) throws(JobValidationError) -> JobParameters.ExecuteCommand {
        let vmName = try fields.vmName()
        let shell = try fields.optionalString("command")
        let argv = try fields.optionalStringArray("argv")
        let command: JobParameters.ExecuteCommand.Command
        switch (shell, argv) {
        case (let text?, nil):
            guard !text.isEmpty else { throw JobValidationError(field: "command", reason: "must not be empty") }
            command = .shell(text)
        case (nil, let words?):
            guard let first = words.first, !first.isEmpty else {
                throw JobValidationError(field: "argv", reason: "must name a program in argv[0]")
            }
            if first.contains("=") {
                throw JobValidationError(field: "argv[0]", reason: "a program name must not contain =")
            }
            command = .argv(words)
        case (nil, nil):
            throw JobValidationError(field: "command", reason: "one of command or argv is required")
        case (.some, .some):
            throw JobValidationError(field: "argv", reason: "give command or argv, not both")
        }
        let env = try fields.optionalStringMap("env") ?? [:]
        for name in env.keys.sorted() where !isVariableName(name) {
            throw JobValidationError(
                field: "env", reason: "\"\(name)\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                code: .policyDenied)
        }
        return .init(vmName: vmName, command: command, workdir: try fields.optionalString("workdir"), env: env)
    }

    private static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 95
        }
    }
}
