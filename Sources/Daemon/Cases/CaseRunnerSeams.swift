import Core
import Foundation

/// The ledger operations a case's lifecycle needs. `Ledger` (SQLite, one host) is the one
/// implementation; the protocol is the seam where a shared store (several hosts on one
/// PostgreSQL ledger) would plug in. Contract for an implementation: each call is one atomic
/// transaction, `register` is idempotent for the same name and content (see `Ledger.register`),
/// and transitions are checked against `CaseState.successors`.
public protocol CaseLedger: AnyObject {
    func register(caseName: String, contentHash: String, inputFiles: [String]) throws -> Registration
    func transition(_ id: Int64, to state: CaseState, detail: String?) throws
    func recordCompletion(_ id: Int64, results: CaseResults, detail: String?) throws
    func recordAttemptFailure(_ id: Int64, error: String, willRetry: Bool) throws
    func recordInterruption(_ id: Int64, attempt: Int, cause: InterruptionCause) throws -> [Interruption]
    func caseRecord(_ id: Int64) throws -> CaseRecord?
    /// Every record of `caseName`, oldest first.
    func cases(named caseName: String) throws -> [CaseRecord]
    @discardableResult
    func recordRefusal(caseName: String, reason: String) throws -> Int64
}

extension Ledger: CaseLedger {}

/// Which models make the published mask: the plan of one pass over a claimed case.
public enum CasePass: String, Sendable, Equatable {
    /// The ensemble (and the student alongside): the final mask, pool decision included.
    case ensemble
    /// Student-first mode, first pass: the student alone, published at once, not final.
    case studentOnly = "student-only"
    /// Student-first mode, second pass: the ensemble's mask replaces the student's.
    case teachersAfterStudent = "teachers-after-student"
}

/// What one pass produced: where it was published, the report, and the pool's decision.
public struct PassResult: Sendable {
    public var outputFolder: String
    public var report: CaseReport
    /// Nil when the pool is disabled or the pass does not feed it (student-only).
    public var pool: PoolOutcome?

    public init(outputFolder: String, report: CaseReport, pool: PoolOutcome?) {
        self.outputFolder = outputFolder
        self.report = report
        self.pool = pool
    }
}

/// The pool's decision for a processed case.
public enum PoolOutcome: Sendable {
    case admitted(PoolEntry, evicted: [String])
    /// Not admitted: the reasons (failed checks, a full pool, or a duplicate).
    case rejected(ConfidenceAssessment, reason: String)
}

/// Thrown by a pipeline when a stop was requested between stages; the case is requeued.
public struct PassCancelled: Error {
    public init() {}
}

/// Segments a claimed case and publishes its outputs (`CaseProcessor` in the daemon; tests
/// use a mock). `progress` receives stage names; `shouldStop` is asked between stages and a
/// `PassCancelled` is thrown when it answers true.
public protocol CasePipeline: AnyObject {
    func run(_ claimed: ClaimedCase, pass: CasePass, received: Date?,
             progress: (String) -> Void, shouldStop: () -> Bool) throws -> PassResult
    /// Whether `output/<case>/` holds a provisional student mask still owed its teachers' pass.
    func awaitsTeachersPass(caseName: String) -> Bool
}

/// Where the pipeline is within an attempt, kept for the fatal-signal handler (`CrashRecorder`;
/// tests use a stub).
public protocol AttemptNotes: AnyObject {
    /// The note the previous process left when a fatal signal killed it.
    var previous: CrashNote? { get }
    func begin(caseID: Int64, attempt: Int, stage: String)
    func stage(_ name: String)
    func end()
}

extension CrashRecorder: AttemptNotes {}
