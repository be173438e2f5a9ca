import Foundation
import GRDB

/// Everything `brainseg status` shows from the ledger, read in one snapshot.
public struct LedgerOverview: Sendable, Equatable, Codable {
    /// Unfinished cases (received, queued, processing, retrying), oldest first.
    public var queue: [CaseRecord]
    /// The most recently updated cases, newest first.
    public var recent: [CaseRecord]
    /// Failed and retrying cases, newest first.
    public var failures: [CaseRecord]
    public var summary: LedgerSummary
}

/// Reads. They work on both read-write and read-only ledgers, see the last committed state
/// (WAL snapshot) and never block the daemon's writes. They throw `LedgerError.database` when
/// SQLite fails.
extension Ledger {
    /// The record of case `id`, or nil.
    public func caseRecord(_ id: Int64) throws -> CaseRecord? {
        try reading("reading case #\(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM cases WHERE id = ?", arguments: [id]).map(CaseRecord.init(row:))
        }
    }

    /// Every record of `caseName`, oldest first (a name dropped three times has three records).
    public func cases(named caseName: String) throws -> [CaseRecord] {
        try fetchCases("SELECT * FROM cases WHERE case_name = ? ORDER BY id", [caseName])
    }

    /// The state history of case `id`, in order (the first entry is its creation, `from` nil).
    public func transitions(of id: Int64) throws -> [StateTransition] {
        try reading("reading the history of case #\(id)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM transitions WHERE case_id = ? ORDER BY id", arguments: [id]).map { row in
                StateTransition(caseID: row["case_id"], from: (row["from_state"] as String?).flatMap(CaseState.init(rawValue:)),
                                to: CaseState(rawValue: row["to_state"]) ?? .received, at: row["at"], detail: row["detail"])
            }
        }
    }

    /// The processing attempts of case `id`, first attempt first.
    public func attempts(of id: Int64) throws -> [Attempt] {
        try reading("reading the attempts of case #\(id)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE case_id = ? ORDER BY number, id", arguments: [id]).map { row in
                Attempt(caseID: row["case_id"], number: row["number"], startedAt: row["started_at"], endedAt: row["ended_at"],
                        outcome: (row["outcome"] as String?).flatMap(CaseState.init(rawValue:)), error: row["error"])
            }
        }
    }

    /// Unfinished cases (received, queued, processing, retrying), oldest first.
    public func queue() throws -> [CaseRecord] {
        try fetchCases("SELECT * FROM cases WHERE state IN (\(Self.sqlList(CaseState.unfinished))) ORDER BY created_at, id", [])
    }

    /// Cases left in `processing`. Called at start-up, before the work loop runs, these are the
    /// cases a killed daemon was working on: requeue them (`transition(id, to: .queued, …)`) or
    /// fail them when `attempts` is too high. While the daemon runs, it is the case in progress.
    public func casesInterruptedByCrash() throws -> [CaseRecord] {
        try fetchCases("SELECT * FROM cases WHERE state = 'processing' ORDER BY created_at, id", [])
    }

    /// The `limit` most recently updated cases, newest first.
    public func recentCases(limit: Int) throws -> [CaseRecord] {
        try fetchCases("SELECT * FROM cases ORDER BY updated_at DESC, id DESC LIMIT ?", [max(0, limit)])
    }

    /// The `limit` most recent failed or retrying cases with their `lastError`, newest first.
    public func failures(limit: Int) throws -> [CaseRecord] {
        try fetchCases("SELECT * FROM cases WHERE state IN ('failed', 'retrying') ORDER BY updated_at DESC, id DESC LIMIT ?", [max(0, limit)])
    }

    /// Model events, newest first, optionally of one kind.
    public func modelEvents(kind: ModelEventKind? = nil, limit: Int = 100) throws -> [ModelEvent] {
        try reading("reading model events") { db in try Self.fetchModelEvents(db, kind: kind, limit: limit) }
    }

    /// Counts per state and the last retrain.
    public func summary() throws -> LedgerSummary {
        try reading("summarising") { db in try Self.summary(db) }
    }

    /// Queue, recent cases, failures and summary from one consistent snapshot.
    public func overview(recentLimit: Int = 10, failureLimit: Int = 10) throws -> LedgerOverview {
        try reading("reading the overview") { db in
            LedgerOverview(
                queue: try Self.cases(db, "SELECT * FROM cases WHERE state IN (\(Self.sqlList(CaseState.unfinished))) ORDER BY created_at, id", []),
                recent: try Self.cases(db, "SELECT * FROM cases ORDER BY updated_at DESC, id DESC LIMIT ?", [max(0, recentLimit)]),
                failures: try Self.cases(db, "SELECT * FROM cases WHERE state IN ('failed', 'retrying') ORDER BY updated_at DESC, id DESC LIMIT ?", [max(0, failureLimit)]),
                summary: try Self.summary(db))
        }
    }

    /// The value of an SQLite pragma (`journal_mode`, `synchronous`…), for diagnostics and tests.
    func pragma(_ name: String) throws -> String? {
        try reading("reading PRAGMA \(name)") { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    // MARK: - Internals

    func reading<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read { db in try body(db) }
        } catch let error as DatabaseError {
            throw LedgerError(.database, path: path, detail: "\(action) failed: \(error.message ?? "\(error)")")
        }
    }

    func fetchCases(_ sql: String, _ arguments: StatementArguments) throws -> [CaseRecord] {
        try reading("reading cases") { db in try Self.cases(db, sql, arguments) }
    }

    static func cases(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> [CaseRecord] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map(CaseRecord.init(row:))
    }

    static func fetchModelEvents(_ db: Database, kind: ModelEventKind?, limit: Int) throws -> [ModelEvent] {
        let rows: [Row]
        if let kind {
            rows = try Row.fetchAll(db, sql: "SELECT * FROM model_events WHERE kind = ? ORDER BY at DESC, id DESC LIMIT ?",
                                    arguments: [kind.rawValue, max(0, limit)])
        } else {
            rows = try Row.fetchAll(db, sql: "SELECT * FROM model_events ORDER BY at DESC, id DESC LIMIT ?", arguments: [max(0, limit)])
        }
        return rows.map { row in
            ModelEvent(id: row["id"], name: row["name"], version: row["version"], kind: ModelEventKind(rawValue: row["kind"]),
                       at: row["at"], detailJSON: row["detail"])
        }
    }

    static func summary(_ db: Database) throws -> LedgerSummary {
        var counts = Dictionary(uniqueKeysWithValues: CaseState.allCases.map { ($0.rawValue, 0) })
        for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM cases GROUP BY state") {
            counts[row["state"] as String] = row["n"]
        }
        return LedgerSummary(countsByState: counts, totalCases: counts.values.reduce(0, +),
                             lastRetrain: try fetchModelEvents(db, kind: .retrainFinished, limit: 1).first)
    }
}

extension CaseRecord {
    init(row: Row) {
        id = row["id"]
        caseName = row["case_name"]
        contentHash = row["content_hash"]
        let rawState: String = row["state"]
        // A state written by a newer build is shown as failed rather than crashing a reader.
        state = CaseState(rawValue: rawState) ?? .failed
        attempts = row["attempts"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
        lastError = row["last_error"]
        inputFiles = LedgerJSON.decode([String].self, from: row["input_files"], default: [])
        duplicateOf = row["duplicate_of"]
        results = CaseResults(
            outputs: LedgerJSON.decode([String: String].self, from: row["outputs"], default: [:]),
            modelVersions: LedgerJSON.decode([String: String].self, from: row["model_versions"], default: [:]),
            timings: LedgerJSON.decode([String: Double].self, from: row["timings"], default: [:]),
            volumes: LedgerJSON.decode([String: Double].self, from: row["volumes"], default: [:]),
            dice: (row["dice"] as String?).map { LedgerJSON.decode([String: Double].self, from: $0, default: [:]) })
    }
}
