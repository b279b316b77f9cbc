import Foundation
import Logging
import Models

/// Registers the agent (at start and after a 404) and keeps the control plane's
/// overrides of the intervals from the last registration.
public actor Registrar {
    private let controlPlane: any ControlPlane
    private let registration: @Sendable () async -> Registration
    private let logger: Logger
    private var reply: RegistrationReply?
    /// One registration at a time: the poller and the reporter may both ask.
    private var inflight: Task<RegistrationReply, any Error>?

    public init(
        controlPlane: any ControlPlane, registration: @escaping @Sendable () async -> Registration, logger: Logger
    ) {
        self.controlPlane = controlPlane
        self.registration = registration
        self.logger = logger
    }

    public var isRegistered: Bool { reply != nil }
    public var overrides: RegistrationReply { reply ?? RegistrationReply() }

    /// Registers when not registered; throws the control plane's error.
    public func ensureRegistered() async throws(ControlPlaneError) {
        if reply != nil { return }
        let task: Task<RegistrationReply, any Error>
        if let inflight {
            task = inflight
        } else {
            let controlPlane = self.controlPlane
            let registration = self.registration
            let logger = self.logger
            task = Task(executorPreference: GlobalExecutor.preferred) {
                let body = await registration()
                let answer = try await controlPlane.register(body)
                logger.info(
                    "registered with the control plane",
                    metadata: [
                        "agentId": .string(body.agentId), "lima": .string(body.lima?.version ?? "unavailable"),
                        "jobTypes": "\(body.capabilities.jobTypes.count)",
                    ])
                return answer
            }
            inflight = task
        }
        do {
            let answer = try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
            reply = answer
            inflight = nil
        } catch {
            inflight = nil
            throw (error as? ControlPlaneError) ?? ControlPlaneError(.cancelled, message: "\(error)")
        }
    }

    /// After a 404: the next call registers again.
    public func forget() {
        if reply != nil { logger.warning("the control plane does not know this agent; registering again") }
        reply = nil
    }
}
