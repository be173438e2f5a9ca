import Foundation
import GRDB

/// The ledger file's identity (device, inode): the file the daemon opened, so that it notices
/// when `ledger.sqlite` is deleted or replaced under it. SQLite keeps writing into the file it
/// opened, so without this a deleted ledger lost every record from then on at the next start,
/// silently (adversarial run, F14).
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

extension Ledger {
    /// What became of the ledger file since it was opened.
    public enum FileChange: Sendable, Equatable {
        case unchanged
        /// Nothing at `path` any more.
        case deleted
        /// Another file at `path` (a restored backup, a copy).
        case replaced
    }

    /// One `stat` of `path`, compared with the file opened.
    public var fileChange: FileChange {
        guard let now = FileIdentity(path: path) else { return .deleted }
        return now == openedFile ? .unchanged : .replaced
    }

    /// Writes the open database, with everything recorded until now, to `path` (`VACUUM INTO`),
    /// for a ledger file deleted while the daemon runs. Refuses to write over an existing file.
    public func restoreDeletedFile() throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw LedgerError(.invalidValue, path: path, detail: "not restored: a file is there")
        }
        do {
            try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        } catch let error as DatabaseError {
            throw LedgerError(.database, path: path, detail: "cannot restore the deleted ledger file: \(error.message ?? "\(error)")")
        }
    }
}
