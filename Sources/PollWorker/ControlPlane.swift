import Models

/// The control plane as the agent sees it: register, claim, report (control-plane-api.md).
/// Production uses `HTTPControlPlane`; tests use a real loopback server or a fake.
public protocol ControlPlane: Sendable {
    func register(_ registration: Registration) async throws(ControlPlaneError) -> RegistrationReply
    func claim(_ request: ClaimRequest) async throws(ControlPlaneError) -> ClaimReply
    func report(_ report: Report) async throws(ControlPlaneError) -> ReportReply
}
