import ArgumentParser

/// `limahost-agent approvals …`: the operator's side of security.requireCommandApproval.
struct ApprovalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "List, approve or deny the commands waiting for approval on this host.",
        discussion: """
            With security.requireCommandApproval, every execute_command job waits until an operator \
            decides. The running agent reads the decision from its state store (stateDir) within a second.
            """,
        subcommands: [ApprovalsList.self, ApprovalsApprove.self, ApprovalsDeny.self])
}

struct ApprovalsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the commands waiting.")

    @OptionGroup var configOption: ConfigOption
    var config: String? { configOption.config }
}

struct ApprovalsApprove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Let a waiting command run.")

    @Argument(help: ArgumentHelp("The job id (from `approvals list`).", valueName: "ID"))
    var id: String

    @OptionGroup var configOption: ConfigOption
    var config: String? { configOption.config }
}

struct ApprovalsDeny: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deny", abstract: "Refuse a waiting command (reported rejected, approval_denied).")

    @Argument(help: ArgumentHelp("The job id (from `approvals list`).", valueName: "ID"))
    var id: String

    @OptionGroup var configOption: ConfigOption
    var config: String? { configOption.config }
}
