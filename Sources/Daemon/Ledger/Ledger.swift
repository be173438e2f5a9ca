import Foundation
import GRDB

/// The case ledger: an SQLite database (`<root>/ledger.sqlite`, WAL mode, through GRDB) that
/// records every case the daemon sees, every state change with its time, every processing
/// attempt and error, the results of completed cases, and model events (installs, retrain runs,
/// promotions, rollbacks).
///
/// Contract:
/// - **One transaction per call.** Every write method either commits completely or leaves the
///   ledger unchanged (SQLite `BEGIN IMMEDIATE` … `COMMIT`, `synchronous = FULL`), so a
///   `kill -9` (or power loss) at any moment leaves a consistent ledger.
/// - **Idempotency.** `register` identifies a case by its content hash (`ContentHash`): content
///   completed before is answered `.duplicate` and must not be processed again; the same name
///   with different content is a new case; the same name and content with an unfinished record
///   is `.resumed`.
/// - **Crash recovery.** A case left in `processing` by a killed daemon is listed by
///   `casesInterruptedByCrash()`; the daemon requeues it with `transition(id, to: .queued, …)`
///   (or fails it, e.g. when `attempts` shows that it keeps killing the daemon).
/// - **Transitions are checked** against `CaseState.successors`; an invalid one throws and
///   changes nothing.
/// - **Concurrent readers.** Any number of processes may open the ledger with `.readOnly`
///   (e.g. `brainseg status`) while one daemon writes: WAL readers see the last committed state
///   and never block the writer. Only one process may write (one daemon per root).
///
/// Failure modes: every method throws `LedgerError` (`.database` wraps SQLite errors such as a
/// full disk or a corrupt file; `.unknownCase`, `.invalidTransition`, `.invalidValue`,
/// `.readOnly`; opening throws `.missing` or `.schema`).
public final class Ledger: Sendable {
    public enum Access: Sendable, Equatable {
        /// Creates the file if needed and migrates it to the current schema.
        case readWrite
        /// Never creates or changes anything; the file must exist and be migrated.
        case readOnly
    }

    /// The database file.
    public let path: String
    public let access: Access
    let pool: DatabasePool
    /// Device and inode of `path` once opened (`Ledger+FileIdentity`).
    let openedFile: FileIdentity?
    /// The time source for every timestamp (injectable for tests).
    let clock: @Sendable () -> Date

    /// Opens (and for `.readWrite` creates and migrates) the ledger at `path`.
    /// - Parameter clock: where timestamps come from; the wall clock by default.
    /// - Throws: `LedgerError` `.missing` (read-only and no file), `.schema` (not a ledger, or not
    ///   yet migrated when read-only), `.database` (directory missing, permissions, corrupt file).
    public init(path: String, access: Access = .readWrite, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.access = access
        self.clock = clock
        var configuration = Configuration()
        configuration.label = "brainseg-ledger"
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        if access == .readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw LedgerError(.missing, path: path, detail: "no ledger file (the daemon has not run on this root yet, or --root points elsewhere)")
            }
            configuration.readonly = true
        } else {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw LedgerError(.database, path: path, detail: "cannot open: \(error.message ?? "\(error)") (check that the folder exists and is writable, and that the file is an SQLite database)")
        }
        do {
            let migrator = LedgerSchema.migrator
            if access == .readWrite {
                try migrator.migrate(pool)
            } else {
                let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
                guard applied.contains(LedgerSchema.baseMigration) else {
                    throw LedgerError(.schema, path: path, detail: "not a brainseg ledger, or its schema was never created (start the daemon once to create it)")
                }
            }
        } catch let error as LedgerError {
            throw error
        } catch let error as DatabaseError {
            throw LedgerError(.schema, path: path, detail: "cannot read or migrate the schema: \(error.message ?? "\(error)") (is this a brainseg ledger?)")
        }
        openedFile = FileIdentity(path: path)
        if access == .readWrite { try checkIntegrity() }
    }

    /// What an operator can do about a damaged ledger file.
    static let damagedAdvice = "the ledger file is damaged: stop the daemon and restore ledger.sqlite from a backup, or move it aside so that a new one is started (the case history and duplicate detection then start afresh)"

    /// `PRAGMA quick_check` at opening: damaged pages in the cases or transitions tables passed
    /// the schema check, after which every case failed to register and went to `failed/` while
    /// the daemon looked healthy. Milliseconds for a ledger of thousands of cases.
    func checkIntegrity() throws {
        let problems: [String]
        do {
            problems = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
        } catch let error as DatabaseError {
            throw LedgerError(.database, path: path, detail: "the integrity check failed: \(error.message ?? "\(error)") (\(Self.damagedAdvice))", errorNumber: EUCLEAN)
        }
        guard problems == ["ok"] else {
            throw LedgerError(.database, path: path, detail: "\(problems.joined(separator: "; ")) (\(Self.damagedAdvice))", errorNumber: EUCLEAN)
        }
    }

    // MARK: - Cases

    /// Records a case found in the drop folder, in one transaction:
    /// 1. an unfinished record (received, queued, processing, retrying) with the same name and
    ///    content → `.resumed(id, state:)`, nothing written (a restart, or a second identical
    ///    copy of a case the daemon is handling now: the caller knows which from `state`);
    /// 2. else a `completed` record with the same content (any name) → a new record in state
    ///    `duplicate` pointing at it, `.duplicate(id, of:)`;
    /// 3. else a new record in state `received`, `.new(id)`.
    /// A record that `failed` does not count: the same content dropped again is processed again.
    /// - Parameters:
    ///   - contentHash: `ContentHash.hexDigest` of the inputs.
    ///   - inputFiles: the paths as received (stored for the record; not read).
    public func register(caseName: String, contentHash: String, inputFiles: [String]) throws -> Registration {
        try writing("registering case \(caseName)") { db, now in
            if let row = try Row.fetchOne(db, sql: """
                SELECT id, state FROM cases
                WHERE case_name = ? AND content_hash = ? AND state IN (\(Self.sqlList(CaseState.unfinished)))
                ORDER BY id DESC LIMIT 1
                """, arguments: [caseName, contentHash]) {
                return .resumed(row["id"], state: CaseState(rawValue: row["state"]) ?? .received)
            }
            let original = try Int64.fetchOne(db, sql: """
                SELECT id FROM cases WHERE content_hash = ? AND state = 'completed' ORDER BY id DESC LIMIT 1
                """, arguments: [contentHash])
            try db.execute(sql: """
                INSERT INTO cases (case_name, content_hash, state, created_at, updated_at, input_files, duplicate_of)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [caseName, contentHash, CaseState.received.rawValue, now, now,
                                 try LedgerJSON.encode(inputFiles), original])
            let id = db.lastInsertedRowID
            try insertTransition(db, caseID: id, from: nil, to: .received, at: now, detail: nil)
            guard let original else { return .new(id) }
            try apply(db, caseID: id, from: .received, to: .duplicate, detail: "same content as case #\(original), completed before", at: now)
            return .duplicate(id, of: original)
        }
    }

    /// A case refused before it could be registered (at intake: an unsafe name, links, FIFOs, an
    /// incomplete case): one row, received and then failed with `reason`, so that the ledger and
    /// `brainseg status` show every case dropped, not only those that were read. Its files were
    /// never read, so its content hash is the placeholder `refused`, which no duplicate check
    /// or resumption matches (they look for completed or unfinished rows).
    @discardableResult
    public func recordRefusal(caseName: String, reason: String) throws -> Int64 {
        try writing("recording the refusal of \(caseName)") { db, now in
            try db.execute(sql: """
                INSERT INTO cases (case_name, content_hash, state, created_at, updated_at, input_files)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [caseName, "refused", CaseState.received.rawValue, now, now, try LedgerJSON.encode([String]())])
            let id = db.lastInsertedRowID
            try insertTransition(db, caseID: id, from: nil, to: .received, at: now, detail: nil)
            try apply(db, caseID: id, from: .received, to: .failed, detail: reason, at: now)
            return id
        }
    }

    /// Moves case `id` to `state`, recording the time and `detail`, in one transaction.
    /// Entering `processing` starts an attempt (and counts it in `attempts`); leaving it ends the
    /// attempt with the new state as outcome. For `failed` and `retrying`, `detail` becomes the
    /// case's `lastError`.
    /// - Throws: `LedgerError` `.unknownCase`, `.invalidTransition` (nothing is written).
    public func transition(_ id: Int64, to state: CaseState, detail: String? = nil) throws {
        try writing("moving case #\(id) to \(state)") { db, now in
            let current = try currentState(db, id)
            try apply(db, caseID: id, from: current, to: state, detail: detail, at: now)
        }
    }

    /// Ends the running attempt of case `id` with `error`: to `retrying` when `willRetry`
    /// (transient: disk full, out of memory), else to `failed`. Same as `transition` with the
    /// error as detail.
    public func recordAttemptFailure(_ id: Int64, error: String, willRetry: Bool) throws {
        try transition(id, to: willRetry ? .retrying : .failed, detail: error)
    }

    /// Stores `results` and moves case `id` from `processing` to `completed`, in one transaction
    /// (so a completed case always has its outputs recorded).
    /// - Throws: `LedgerError` `.unknownCase`, `.invalidTransition` (the case is not processing).
    public func recordCompletion(_ id: Int64, results: CaseResults, detail: String? = nil) throws {
        try writing("recording completion of case #\(id)") { db, now in
            let current = try currentState(db, id)
            try apply(db, caseID: id, from: current, to: .completed, detail: detail, at: now)
            try db.execute(sql: """
                UPDATE cases SET outputs = ?, model_versions = ?, timings = ?, volumes = ?, dice = ? WHERE id = ?
                """, arguments: [try LedgerJSON.encode(results.outputs), try LedgerJSON.encode(results.modelVersions),
                                 try LedgerJSON.encode(results.timings), try LedgerJSON.encode(results.volumes),
                                 try results.dice.map { try LedgerJSON.encode($0) }, id])
        }
    }

    // MARK: - Model events

    /// Records a model or retraining event (see `ModelEventKind`) and returns it.
    /// - Parameter detailJSON: JSON text (an object by convention) or nil.
    /// - Throws: `LedgerError.invalidValue` when `detailJSON` is not valid JSON.
    @discardableResult
    public func recordModelEvent(name: String, version: String, kind: ModelEventKind, detailJSON: String? = nil) throws -> ModelEvent {
        if let detailJSON {
            guard (try? JSONSerialization.jsonObject(with: Data(detailJSON.utf8), options: [.fragmentsAllowed])) != nil else {
                throw LedgerError(.invalidValue, path: path, detail: "model event \(kind) for \(name) \(version): detail is not valid JSON")
            }
        }
        return try writing("recording model event \(kind) for \(name) \(version)") { db, now in
            try db.execute(sql: "INSERT INTO model_events (name, version, kind, at, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [name, version, kind.rawValue, now, detailJSON])
            return ModelEvent(id: db.lastInsertedRowID, name: name, version: version, kind: kind, at: now, detailJSON: detailJSON)
        }
    }

    // MARK: - Internals

    /// Runs `body` in one IMMEDIATE write transaction with one timestamp; maps errors to `LedgerError`.
    func writing<T>(_ action: String, _ body: (Database, Date) throws -> T) throws -> T {
        guard access == .readWrite else {
            throw LedgerError(.readOnly, path: path, detail: "\(action): the ledger was opened read-only")
        }
        let now = clock()
        do {
            return try pool.write { db in try body(db, now) }
        } catch let error as LedgerError {
            throw error
        } catch let error as DatabaseError {
            let code: Int32? = switch error.resultCode {
            case .SQLITE_FULL: ENOSPC
            case .SQLITE_IOERR: EIO
            case .SQLITE_BUSY, .SQLITE_LOCKED: EBUSY
            case .SQLITE_NOMEM: ENOMEM
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: EUCLEAN
            default: nil
            }
            let advice = code == EUCLEAN ? Self.damagedAdvice : "check free disk space and the file's permissions"
            throw LedgerError(.database, path: path, detail: "\(action) failed: \(error.message ?? "\(error)") (\(advice))",
                              errorNumber: code)
        }
    }

    func currentState(_ db: Database, _ id: Int64) throws -> CaseState {
        guard let raw = try String.fetchOne(db, sql: "SELECT state FROM cases WHERE id = ?", arguments: [id]) else {
            throw LedgerError(.unknownCase, path: path, detail: "no case #\(id)")
        }
        guard let state = CaseState(rawValue: raw) else {
            throw LedgerError(.schema, path: path, detail: "case #\(id) has state '\(raw)', unknown to this build (a newer brainseg wrote it)")
        }
        return state
    }

    /// Applies one checked transition: state, timestamps, error, attempts, history.
    func apply(_ db: Database, caseID id: Int64, from current: CaseState, to next: CaseState, detail: String?, at now: Date) throws {
        guard current.canTransition(to: next) else {
            let name = try String.fetchOne(db, sql: "SELECT case_name FROM cases WHERE id = ?", arguments: [id]) ?? "?"
            throw LedgerError(.invalidTransition, path: path,
                              detail: "case #\(id) (\(name)) cannot go from \(current) to \(next); allowed: \(current.successors.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        if current == .processing {
            try db.execute(sql: """
                UPDATE attempts SET ended_at = ?, outcome = ?, error = ?
                WHERE case_id = ? AND ended_at IS NULL
                """, arguments: [now, next.rawValue, detail, id])
        }
        if next == .processing {
            try db.execute(sql: "UPDATE cases SET attempts = attempts + 1 WHERE id = ?", arguments: [id])
            try db.execute(sql: """
                INSERT INTO attempts (case_id, number, started_at) SELECT id, attempts, ? FROM cases WHERE id = ?
                """, arguments: [now, id])
        }
        if next == .failed || next == .retrying, let detail {
            try db.execute(sql: "UPDATE cases SET last_error = ? WHERE id = ?", arguments: [detail, id])
        }
        try db.execute(sql: "UPDATE cases SET state = ?, updated_at = ? WHERE id = ?", arguments: [next.rawValue, now, id])
        try insertTransition(db, caseID: id, from: current, to: next, at: now, detail: detail)
    }

    func insertTransition(_ db: Database, caseID: Int64, from: CaseState?, to: CaseState, at: Date, detail: String?) throws {
        try db.execute(sql: "INSERT INTO transitions (case_id, from_state, to_state, at, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [caseID, from?.rawValue, to.rawValue, at, detail])
    }

    /// `'a', 'b'` for an SQL `IN (…)` of fixed, trusted state names.
    static func sqlList(_ states: [CaseState]) -> String {
        states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }
}

/// Compact, key-sorted JSON for the ledger's JSON columns.
enum LedgerJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String?, default fallback: T) -> T {
        guard let text, let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else { return fallback }
        return value
    }
}
