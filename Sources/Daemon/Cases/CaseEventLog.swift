import Core
import Foundation
import Logging

/// The journal events of a finished pass: `case-completed` with its structured fields, and the
/// pool's decision (`pool-admitted` / `pool-rejected`). One field list, built in one place.
struct CaseEventLog {
    let logger: Logger

    /// - Parameter stage: set for the teachers' pass of student-first mode ("teachers").
    func completed(_ caseName: String, result: PassResult, seconds: Double, stage: String? = nil) {
        let volumes = result.report.volumesMillilitres
        var fields: [(DaemonEventField, any CustomStringConvertible & Sendable)] = [
            (.caseID, caseName), (.durationMilliseconds, Int(seconds * 1000)),
            (.wholeTumourMillilitres, rounded(volumes.wholeTumour)), (.tumourCoreMillilitres, rounded(volumes.tumourCore)),
            (.enhancingTumourMillilitres, rounded(volumes.enhancingTumour)),
        ]
        if let stage { fields.append((.stage, stage)) }
        if let evaluation = result.report.evaluation {
            fields += [(.diceWholeTumour, rounded(evaluation[.wholeTumour].dice)), (.diceTumourCore, rounded(evaluation[.tumourCore].dice)),
                       (.diceEnhancingTumour, rounded(evaluation[.enhancingTumour].dice))]
        }
        let message = stage == nil ? nil : "case completed: \(caseName) (ensemble mask replaced the student's)"
        logger.log(.caseCompleted, message, fieldList: fields)
        pool(result.pool, caseName: caseName)
    }

    func pool(_ outcome: PoolOutcome?, caseName: String) {
        switch outcome {
        case .admitted(let entry, let evicted)?:
            let others = evicted.filter { $0 != caseName }
            let evictedText = others.isEmpty ? "" : "; evicted \(others.joined(separator: ", "))"
            logger.log(.poolAdmitted, String(format: "pool: admitted %@ (%@, score %.3f)%@: %@", caseName, entry.kind.rawValue, entry.confidence.score,
                                             evictedText, entry.confidence.reasons.joined(separator: "; ")),
                       fields: [.caseID: caseName, .score: String(format: "%.4f", entry.confidence.score)])
        case .rejected(let assessment, let reason)?:
            logger.log(.poolRejected, String(format: "pool: rejected %@ (score %.3f): %@; %@", caseName, assessment.score, reason,
                                             assessment.reasons.joined(separator: "; ")),
                       fields: [.caseID: caseName, .score: String(format: "%.4f", assessment.score), .reason: reason])
        case nil:
            break
        }
    }

    private func rounded(_ value: Double) -> String { String(format: "%.3f", value) }
}
