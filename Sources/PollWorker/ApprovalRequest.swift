import Foundation
import Models

/// An `execute_command` job waiting for an operator on the host (`security.requireCommandApproval`).
public struct ApprovalRequest: Sendable, Equatable {
    public enum Decision: String, Sendable { case approved, denied }

    public var ref: JobRef
    public var vmName: String
    /// The command as the operator should judge it: the string, or the argv words quoted.
    public var command: String
    public var requestedAt: Date
    public var decision: Decision?
    public var decidedAt: Date?
    public var decidedBy: String?

    public init(
        ref: JobRef, vmName: String, command: String, requestedAt: Date, decision: Decision? = nil,
        decidedAt: Date? = nil, decidedBy: String? = nil
    ) {
        self.ref = ref
        self.vmName = vmName
        self.command = command
        self.requestedAt = requestedAt
        self.decision = decision
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
    }

    /// How a command reads in `approvals list`: a string as it is, argv words shell-quoted.
    public static func describe(_ command: JobParameters.ExecuteCommand.Command) -> String {
        switch command {
        case .shell(let text):
            return text
        case .argv(let words):
            return words.map { word in
                word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }) && !word.isEmpty
                    ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
            }.joined(separator: " ")
        }
    }
}
