import Foundation
import Models

/// The operator's side of `security.requireCommandApproval`:
/// `limahost-agent approvals list | approve ID | deny ID --config PATH`. It opens
/// the running agent's state store (found through the configuration's `stateDir`)
/// and reads or records decisions there; the agent picks them up within a second.
public struct ApprovalDesk: Sendable {
    public enum Action: Sendable, Equatable {
        case list
        case decide(jobId: String, ApprovalRequest.Decision)
    }

    let loader: ConfigLoader
    let writeOut: @Sendable (String) -> Void
    let writeErr: @Sendable (String) -> Void
    let operatorName: String
    let now: @Sendable () -> Date

    public init(
        loader: ConfigLoader, operatorName: String, writeOut: @escaping @Sendable (String) -> Void,
        writeErr: @escaping @Sendable (String) -> Void, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.loader = loader
        self.operatorName = operatorName
        self.writeOut = writeOut
        self.writeErr = writeErr
        self.now = now
    }

    public func run(_ action: Action, sources: ConfigSources) -> ExitStatus {
        let loaded = loader.load(sources)
        // Only what locates the store matters here; the key and the URL need not be set.
        if let problem = loaded.errors.first(where: { $0.keyPath == loaded.path || $0.keyPath == "stateDir" }) {
            writeErr("limahost-agent approvals: \(problem)\n")
            return .configuration
        }
        let store: StateStore
        do throws(StoreError) {
            store = try StateStore(directory: loaded.config.stateDir, maxOutboxBytes: loaded.config.outboxMaxBytes)
        } catch {
            writeErr("limahost-agent approvals: stateDir: \(error.message)\n")
            return .configuration
        }
        do throws(StoreError) {
            switch action {
            case .list:
                writeOut(Self.render(try store.pendingApprovals()))
                return .ok
            case .decide(let jobId, let decision):
                let count = try store.decide(jobId: jobId, decision, by: operatorName, at: now())
                guard count > 0 else {
                    writeErr("limahost-agent approvals: no command waits for approval under job id \(jobId)\n")
                    return .configuration
                }
                writeOut("\(decision.rawValue) \(jobId)\n")
                return .ok
            }
        } catch {
            writeErr("limahost-agent approvals: \(error.message)\n")
            return .jobFailed
        }
    }

    /// One line per waiting command: job id, attempt, VM, waiting since, command.
    static func render(_ requests: [ApprovalRequest]) -> String {
        guard !requests.isEmpty else { return "no command waits for approval\n" }
        var lines = ["JOB\tATTEMPT\tVM\tWAITING SINCE\tCOMMAND"]
        for request in requests {
            let command = request.command.replacingOccurrences(of: "\n", with: "\\n")
            lines.append(
                "\(request.ref.jobId)\t\(request.ref.attempt)\t\(request.vmName)\t"
                    + "\(RFC3339.format(request.requestedAt))\t\(command)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
