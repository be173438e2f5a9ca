import Core
import Foundation

/// A case folder in `work/` that passed the safety checks, with the files that count and their
/// digests. Intake builds it once; every later stage (registration, hashing, loading, the
/// report, the pool) uses these names and digests and never lists the folder again.
public struct ClaimedCase: Sendable, Equatable {
    /// The case name (the folder's name in `incoming/`).
    public let name: String
    /// `work/<name>`.
    public let folder: String
    /// Paths of the files that count, sorted (`CaseIntake.counts`).
    public let files: [String]
    /// One per file, same order.
    public let digests: [ContentHash.FileDigest]
    /// `ContentHash` of the files: the ledger's identity of the case.
    public let contentHash: String

    public init(name: String, folder: String, files: [String], digests: [ContentHash.FileDigest], contentHash: String) {
        self.name = name
        self.folder = folder
        self.files = files
        self.digests = digests
        self.contentHash = contentHash
    }

    /// A case an operator named on the command line (`brainseg segment`): its files as found,
    /// with digests read through symbolic links. Only the daemon's drop folders refuse links
    /// (they may lead out of the root); a file the operator points at is theirs to choose. The
    /// digests keep the names the operator gave, so the report lists those.
    /// - Throws: `CaseReportError` for a file that cannot be read or is not a regular file.
    public static func namedOnCommandLine(_ files: CaseFiles, folder: String) throws -> ClaimedCase {
        let paths = files.modalities + (files.segmentation.map { [$0] } ?? [])
        let digests = try paths.map { path in
            let (digest, bytes) = try CaseReportBuilder.sha256(ofFileAt: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
            return ContentHash.FileDigest(path: path, sha256: digest, byteCount: bytes)
        }
        return ClaimedCase(name: files.identifier, folder: folder, files: paths, digests: digests, contentHash: "")
    }

    /// The files' names within the folder.
    public var fileNames: [String] { files.map { ($0 as NSString).lastPathComponent } }

    /// The modalities and segmentation among the files (no listing).
    public func recognisedFiles() throws -> CaseFiles {
        try CaseFiles.recognise(names: fileNames, directory: folder)
    }
}

/// Validates a claimed folder once and turns it into a `ClaimedCase`.
public enum CaseIntake {
    /// Why intake refused a folder.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// The safety checks refused it (links out of the root, FIFOs, hard links, size…).
        case refused(CaseRefusal)
        /// A file could not be read for hashing.
        case unreadable(String)

        public var description: String {
            switch self {
            case .refused(let refusal): return refusal.reason
            case .unreadable(let detail): return detail
            }
        }
    }

    /// The one rule for which names of a case folder count: not hidden, not a temporary name
    /// (`.part`, `.tmp`, `~`), the same rule readiness and recognition apply.
    public static func counts(_ name: String) -> Bool { !CaseFiles.isIgnored(name) }

    /// Runs `DropFolderSafety` on `folder` (a direct child of `allowedRoot`), keeps the files
    /// that count, and hashes them.
    public static func examine(folder: String, name: String, allowedRoot: String,
                               limits: DropFolderSafety.Limits) -> Result<ClaimedCase, Failure> {
        let names: [String]
        switch DropFolderSafety.inspect(caseDirectory: folder, allowedRoot: allowedRoot, limits: limits) {
        case .failure(let refusal): return .failure(.refused(refusal))
        case .success(let listed): names = listed.filter(counts)
        }
        let files = names.map { "\(folder)/\($0)" }
        do {
            let hash = try ContentHash.compute(files: files)
            return .success(ClaimedCase(name: name, folder: folder, files: files, digests: hash.files, contentHash: hash.description))
        } catch {
            return .failure(.unreadable("cannot hash the case's files: \(error)"))
        }
    }
}
