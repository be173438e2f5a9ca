import Core
import Crypto
import Glibc

/// The identity of a case's content: SHA-256 over its input files, so that the same scans
/// dropped twice are recognised (and not processed twice) while a case re-dropped under the same
/// name with different scans is processed again.
///
/// Definition (stable across runs and machines):
/// 1. every file is hashed on its own with SHA-256, streamed in 1 MiB blocks (a case is several
///    hundred MB; nothing is held in memory);
/// 2. when the files make a case (`CaseFiles.recognise`: the four modalities, maybe a
///    segmentation), only those count, in the order T1, T1ce, T2, FLAIR, segmentation: a marker
///    file, notes or other extras do not change the identity, and scans given other roles do;
/// 3. otherwise (a modality missing, two candidates for one), every file counts, ordered by base
///    name, byte-wise;
/// 4. the case hash is SHA-256 over the concatenated 32-byte digests in that order.
///
/// Names do not enter the hash, so the same scans renamed to another case name (or sent with
/// and without `READY`) are still the same content. The directory part of each path is ignored,
/// so it does not matter whether the case is hashed in `incoming/` or in `work/`. (Until
/// 2026-12-07 rule 3 applied to every case, so the marker counted and its place in the name
/// order depended on the case name.)
///
/// The drop folder is hostile: files are opened with `O_NOFOLLOW | O_NONBLOCK` and must be
/// regular files, so a symlink or a FIFO is refused with an error instead of being followed
/// or blocking the daemon.
public struct ContentHash: Sendable, Equatable, CustomStringConvertible {
    /// One input file and its own SHA-256 (lower-case hex), for reports.
    public struct FileDigest: Sendable, Equatable, Codable {
        public var path: String
        public var sha256: String
        public var byteCount: Int64
    }

    /// Lower-case hex SHA-256 of the case (64 characters): what the ledger stores.
    public let hexDigest: String
    /// Every file with its own digest, ordered by base name.
    public let files: [FileDigest]

    public var description: String { hexDigest }

    /// A file that could not be hashed; the message names it and the reason.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let path: String
        public let detail: String
        public var description: String { "cannot hash \(path): \(detail)" }
    }

    /// Hashes `files` (paths to regular files; at least one).
    /// - Throws: `Failure` when the list is empty, a file is missing, unreadable, a symlink,
    ///   not a regular file, or a read fails.
    public static func compute(files: [String]) throws -> ContentHash {
        guard !files.isEmpty else { throw Failure(path: "(no files)", detail: "a case needs at least one input file") }
        let ordered = files.sorted { baseName($0).utf8.lexicographicallyPrecedes(baseName($1).utf8) }
        var raw: [String: [UInt8]] = [:]
        var digests: [FileDigest] = []
        for path in ordered {
            let (digest, byteCount) = try digestOfFile(path)
            raw[path] = digest
            digests.append(FileDigest(path: path, sha256: hex(digest), byteCount: byteCount))
        }
        var combined = SHA256()
        for path in identityOrder(ordered) { combined.update(data: raw[path] ?? []) }
        return ContentHash(hexDigest: hex(Array(combined.finalize())), files: digests)
    }

    /// The files that make the identity, in order (rules 2 and 3 above); `files` sorted by name.
    static func identityOrder(_ files: [String]) -> [String] {
        let names = files.map(baseName)
        guard let recognised = try? CaseFiles.recognise(names: names, directory: "") else { return files }
        let byName = Dictionary(files.map { (baseName($0), $0) }, uniquingKeysWith: { first, _ in first })
        let roles = recognised.modalities + (recognised.segmentation.map { [$0] } ?? [])
        let paths = roles.compactMap { byName[baseName($0)] }
        return paths.count == roles.count ? paths : files
    }

    /// SHA-256 of one regular file, streamed.
    static func digestOfFile(_ path: String) throws -> ([UInt8], Int64) {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP { throw Failure(path: path, detail: "it is a symbolic link (refused: links may lead out of the drop folder)") }
            throw Failure(path: path, detail: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(path: path, detail: String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw Failure(path: path, detail: "not a regular file (FIFOs, devices and directories are refused)")
        }
        var hasher = SHA256()
        let blockSize = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let count = read(descriptor, buffer.baseAddress, blockSize)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Failure(path: path, detail: "read failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += Int64(count)
        }
        return (Array(hasher.finalize()), total)
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
