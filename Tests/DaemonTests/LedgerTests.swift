import Foundation
import Testing
import TestSupport
@testable import Daemon

/// A clock for the ledger that advances one second per reading, so every timestamp is known.
final class SteppingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = start }
    func next() -> Date {
        lock.lock()
        defer { lock.unlock() }
        current = current.addingTimeInterval(1)
        return current
    }
    var start: Date { Date(timeIntervalSince1970: 1_800_000_000) }
}

@Suite("Ledger")
struct LedgerTests {
    @Test("every transition is recorded in order with its timestamp; completion stores the results")
    func transitionsWithTimestamps() throws {
        let scratch = try TemporaryDirectory()
        let clock = SteppingClock()
        let ledger = try Ledger(path: scratch.file("ledger.sqlite"), clock: clock.next)
        let registration = try ledger.register(caseName: "Brats18_A", contentHash: "h1", inputFiles: ["/in/Brats18_A/Brats18_A_t1.nii.gz"])
        guard case .new(let id) = registration else { Issue.record("expected a new case, got \(registration)"); return }
        try ledger.transition(id, to: .queued)
        try ledger.transition(id, to: .processing, detail: "claimed into work/")
        let results = CaseResults(outputs: ["seg": "/out/A/A_seg.nii.gz"], modelVersions: ["student": "7", "unet": "2"],
                                  timings: ["load": 1.5, "total": 42.25], volumes: ["WT": 80.5, "TC": 20, "ET": 5.25],
                                  dice: ["WT": 0.91, "TC": 0.85, "ET": 0.8])
        try ledger.recordCompletion(id, results: results)

        let history = try ledger.transitions(of: id)
        #expect(history.map(\.from) == [nil, .received, .queued, .processing])
        #expect(history.map(\.to) == [.received, .queued, .processing, .completed])
        #expect(history.map(\.at) == (1...4).map { clock.start.addingTimeInterval(Double($0)) })
        #expect(history[2].detail == "claimed into work/")

        let record = try #require(try ledger.caseRecord(id))
        #expect(record.state == .completed)
        #expect(record.attempts == 1)
        #expect(record.createdAt == clock.start.addingTimeInterval(1))
        #expect(record.updatedAt == clock.start.addingTimeInterval(4))
        #expect(record.results == results)
        #expect(record.totalSeconds == 42.25)
        #expect(record.inputFiles == ["/in/Brats18_A/Brats18_A_t1.nii.gz"])

        let attempts = try ledger.attempts(of: id)
        #expect(attempts.count == 1)
        #expect(attempts.first?.outcome == .completed)
        #expect(attempts.first?.startedAt == clock.start.addingTimeInterval(3))
        #expect(attempts.first?.endedAt == clock.start.addingTimeInterval(4))
    }

    @Test("an invalid transition throws, names the case and changes nothing")
    func invalidTransition() throws {
        let scratch = try TemporaryDirectory()
        let ledger = try Ledger(path: scratch.file("ledger.sqlite"))
        let id = try ledger.register(caseName: "B", contentHash: "h", inputFiles: []).caseID
        #expect(throws: LedgerError.self) { try ledger.recordCompletion(id, results: CaseResults()) }  // received → completed
        try ledger.transition(id, to: .failed, detail: "missing flair")
        do {
            try ledger.transition(id, to: .processing)
            Issue.record("failed → processing was accepted")
        } catch let error as LedgerError {
            #expect(error.kind == .invalidTransition)
            #expect(error.description.contains("#\(id) (B)"))
        }
        #expect(try ledger.caseRecord(id)?.state == .failed)
        #expect(try ledger.caseRecord(id)?.lastError == "missing flair")
        #expect(try ledger.transitions(of: id).count == 2)
        #expect(throws: LedgerError.self) { try ledger.transition(999, to: .queued) }
    }

    @Test("completed content is a duplicate under any name; new content under the same name is a new case")
    func idempotency() throws {
        let scratch = try TemporaryDirectory()
        let ledger = try Ledger(path: scratch.file("ledger.sqlite"))
        let first = try ledger.register(caseName: "C", contentHash: "content-1", inputFiles: [])
        #expect(first == .new(first.caseID))
        // Before completion, the same name and content again is the same case (e.g. a restart).
        #expect(try ledger.register(caseName: "C", contentHash: "content-1", inputFiles: []) == .resumed(first.caseID, state: .received))
        try ledger.transition(first.caseID, to: .processing)
        #expect(try ledger.register(caseName: "C", contentHash: "content-1", inputFiles: []) == .resumed(first.caseID, state: .processing))
        try ledger.recordCompletion(first.caseID, results: CaseResults(timings: ["total": 3]))

        let again = try ledger.register(caseName: "C", contentHash: "content-1", inputFiles: [])
        guard case .duplicate(let duplicateID, of: let original) = again else { Issue.record("expected a duplicate, got \(again)"); return }
        #expect(original == first.caseID)
        #expect(try ledger.caseRecord(duplicateID)?.state == .duplicate)
        #expect(try ledger.caseRecord(duplicateID)?.duplicateOf == first.caseID)
        #expect(try ledger.transitions(of: duplicateID).map(\.to) == [.received, .duplicate])

        let renamed = try ledger.register(caseName: "C-copy", contentHash: "content-1", inputFiles: [])
        #expect(renamed == .duplicate(renamed.caseID, of: first.caseID))

        let newContent = try ledger.register(caseName: "C", contentHash: "content-2", inputFiles: [])
        #expect(newContent == .new(newContent.caseID))
        #expect(try ledger.cases(named: "C").map(\.state) == [.completed, .duplicate, .received])

        // Content that only failed before is processed again when re-dropped.
        try ledger.transition(newContent.caseID, to: .failed, detail: "corrupt t2")
        let retry = try ledger.register(caseName: "C", contentHash: "content-2", inputFiles: [])
        #expect(retry == .new(retry.caseID))
        #expect(retry.caseID != newContent.caseID)
    }

    @Test("a case left in processing is listed after reopening, requeued and counted as a second attempt")
    func interruptedByCrash() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("ledger.sqlite")
        var interruptedID: Int64 = 0
        do {
            let ledger = try Ledger(path: path)
            interruptedID = try ledger.register(caseName: "D", contentHash: "d", inputFiles: []).caseID
            let finished = try ledger.register(caseName: "E", contentHash: "e", inputFiles: []).caseID
            try ledger.transition(interruptedID, to: .processing)
            try ledger.transition(finished, to: .processing)
            try ledger.recordCompletion(finished, results: CaseResults())
            // The "daemon" dies here: the ledger is dropped without finishing D.
        }
        let reopened = try Ledger(path: path)
        let interrupted = try reopened.casesInterruptedByCrash()
        #expect(interrupted.map(\.caseName) == ["D"])
        #expect(try reopened.attempts(of: interruptedID).map(\.endedAt) == [nil])
        try reopened.transition(interruptedID, to: .queued, detail: "requeued after restart")
        try reopened.transition(interruptedID, to: .processing)
        #expect(try reopened.casesInterruptedByCrash().map(\.id) == [interruptedID])
        let attempts = try reopened.attempts(of: interruptedID)
        #expect(attempts.map(\.number) == [1, 2])
        #expect(attempts.first?.outcome == .queued)
        #expect(attempts.first?.error == "requeued after restart")
        #expect(try reopened.caseRecord(interruptedID)?.attempts == 2)
    }

    @Test("a transient failure retries with the reason recorded; failures and the queue list it")
    func retryingAndFailures() throws {
        let scratch = try TemporaryDirectory()
        let ledger = try Ledger(path: scratch.file("ledger.sqlite"))
        let id = try ledger.register(caseName: "F", contentHash: "f", inputFiles: []).caseID
        try ledger.transition(id, to: .processing)
        try ledger.recordAttemptFailure(id, error: "No space left on device writing F_seg.nii.gz", willRetry: true)
        #expect(try ledger.caseRecord(id)?.state == .retrying)
        #expect(try ledger.failures(limit: 5).map(\.lastError) == ["No space left on device writing F_seg.nii.gz"])
        #expect(try ledger.queue().map(\.id) == [id])
        try ledger.transition(id, to: .processing)
        try ledger.recordAttemptFailure(id, error: "mismatched shapes", willRetry: false)
        let record = try #require(try ledger.caseRecord(id))
        #expect(record.state == .failed)
        #expect(record.lastError == "mismatched shapes")
        #expect(try ledger.attempts(of: id).map(\.outcome) == [.retrying, .failed])
        #expect(try ledger.queue().isEmpty)
        #expect(try ledger.summary().countsByState["failed"] == 1)
    }

    @Test("model events: the last retrain is found; detail must be JSON")
    func modelEvents() throws {
        let scratch = try TemporaryDirectory()
        let ledger = try Ledger(path: scratch.file("ledger.sqlite"), clock: SteppingClock().next)
        #expect(try ledger.summary().lastRetrain == nil)
        try ledger.recordModelEvent(name: "student", version: "1", kind: .installed)
        try ledger.recordModelEvent(name: "student", version: "2", kind: .retrainFinished, detailJSON: #"{"outcome":"rejected"}"#)
        try ledger.recordModelEvent(name: "student", version: "3", kind: .retrainFinished, detailJSON: #"{"outcome":"promoted"}"#)
        let last = try #require(try ledger.summary().lastRetrain)
        #expect(last.version == "3")
        #expect(last.detailJSON == #"{"outcome":"promoted"}"#)
        #expect(try ledger.modelEvents().count == 3)
        #expect(throws: LedgerError.self) { try ledger.recordModelEvent(name: "student", version: "4", kind: .promoted, detailJSON: "{not json") }
    }

    @Test("opening: WAL mode; read-only never creates a file and refuses writes; garbage is a clear error")
    func opening() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("ledger.sqlite")
        do {
            _ = try Ledger(path: path, access: .readOnly)
            Issue.record("read-only opening of a missing ledger succeeded")
        } catch let error as LedgerError {
            #expect(error.kind == .missing)
            #expect(error.description.contains(path))
        }
        #expect(!FileManager.default.fileExists(atPath: path))

        let writer = try Ledger(path: path)
        #expect(try writer.pragma("journal_mode") == "wal")
        let reader = try Ledger(path: path, access: .readOnly)
        do {
            _ = try reader.register(caseName: "G", contentHash: "g", inputFiles: [])
            Issue.record("a read-only ledger accepted a write")
        } catch let error as LedgerError {
            #expect(error.kind == .readOnly)
        }

        let garbage = scratch.file("garbage.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: garbage))
        #expect(throws: LedgerError.self) { _ = try Ledger(path: garbage, access: .readOnly) }
        #expect(throws: LedgerError.self) { _ = try Ledger(path: scratch.file("no/such/folder/ledger.sqlite")) }
    }

    @Test("a ledger with damaged pages is refused at opening, saying what to do; a write that meets corruption is a storage fault")
    func damagedPages() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("ledger.sqlite")
        do {
            let ledger = try Ledger(path: path)
            for index in 0..<400 {
                let id = try ledger.register(caseName: "case\(index)", contentHash: "h\(index)", inputFiles: ["/in/case\(index)/t1.nii.gz"]).caseID
                try ledger.transition(id, to: .queued)
            }
        }
        // Garbage over the middle of the file, where the cases and transitions live; the
        // schema on the first page stays readable (adversarial run: every case then failed).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let pageSize = 4096
        #expect(bytes.count > 12 * pageSize)
        for page in [4, 10] { bytes.replaceSubrange(page * pageSize..<(page + 1) * pageSize, with: Data(repeating: 0xA5, count: pageSize)) }
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect { try Ledger(path: path) } throws: { error in
            let text = "\(error)"
            return text.contains("ledger file is damaged") && text.contains("move it aside")
        }
        #expect(RetryPolicy.classify(LedgerError(.database, path: path, detail: "x", errorNumber: EUCLEAN)) == .storage)
    }

    @Test("a read-only reader sees consistent, growing snapshots while a writer writes (WAL)")
    func concurrentReaderAndWriter() async throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("ledger.sqlite")
        let writer = try Ledger(path: path)
        let reader = try Ledger(path: path, access: .readOnly)
        let caseCount = 150
        let writing = Task.detached {
            for index in 0..<caseCount {
                let id = try writer.register(caseName: "case\(index)", contentHash: "hash\(index)", inputFiles: []).caseID
                try writer.transition(id, to: .processing)
                try writer.recordCompletion(id, results: CaseResults(timings: ["total": Double(index)]))
            }
        }
        var previousTotal = 0
        var readings = 0
        repeat {
            let overview = try reader.overview(recentLimit: 5, failureLimit: 5)
            let total = overview.summary.totalCases
            #expect(total >= previousTotal)
            // Each write is one transaction: a reader never sees a case half way through completion.
            for record in overview.recent where record.state == .completed { #expect(record.totalSeconds != nil) }
            #expect(overview.queue.count <= 1)
            previousTotal = total
            readings += 1
        } while previousTotal < caseCount && readings < 100_000
        try await writing.value
        #expect(try reader.summary().countsByState["completed"] == caseCount)
        #expect(readings > 1)
    }
}
