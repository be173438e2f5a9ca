import Foundation
import GRDB

/// A drop-folder entry the daemon cannot claim (permissions, ownership), as `brainseg status`
/// shows it: what is wrong, since when, and how often the daemon tried.
public struct StuckCase: Sendable, Equatable, Codable {
    public var name: String
    public var reason: String
    public var firstSeen: Date
    public var lastTried: Date
    public var tries: Int
}

extension Ledger {
    /// Records a failed claim of `name`: a new row, or one more try of an existing one (the
    /// reason is updated). Returns the row as stored.
    @discardableResult
    public func recordStuck(name: String, reason: String) throws -> StuckCase {
        try writing("recording stuck case \(name)") { db, now in
            try db.execute(sql: """
                INSERT INTO stuck_cases (name, reason, first_seen, last_tried, tries) VALUES (?, ?, ?, ?, 1)
                ON CONFLICT(name) DO UPDATE SET reason = excluded.reason, last_tried = excluded.last_tried, tries = tries + 1
                """, arguments: [name, reason, now, now])
            return try Self.stuckCases(db, name: name).first!
        }
    }

    /// Forgets `name` (claimed at last, or gone from the drop folder). No-op when unknown.
    public func clearStuck(name: String) throws {
        try writing("clearing stuck case \(name)") { db, _ in
            try db.execute(sql: "DELETE FROM stuck_cases WHERE name = ?", arguments: [name])
        }
    }

    /// Every stuck entry, oldest first.
    public func stuckCases() throws -> [StuckCase] {
        try reading("reading stuck cases") { db in try Self.stuckCases(db, name: nil) }
    }

    static func stuckCases(_ db: Database, name: String?) throws -> [StuckCase] {
        guard try db.tableExists("stuck_cases") else { return [] }   // a read-only view of an older ledger
        let filter = name == nil ? "" : "WHERE name = ?"
        let arguments: StatementArguments = name.map { [$0] } ?? []
        return try Row.fetchAll(db, sql: "SELECT * FROM stuck_cases \(filter) ORDER BY first_seen, name", arguments: arguments).map { row in
            StuckCase(name: row["name"], reason: row["reason"], firstSeen: row["first_seen"], lastTried: row["last_tried"], tries: row["tries"])
        }
    }
}
