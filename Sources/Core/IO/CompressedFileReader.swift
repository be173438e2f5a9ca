import CNifti
import Glibc

/// Reads a file's bytes through zlib, decompressing gzip transparently, and insists on
/// integrity: a truncated or corrupt gzip stream is an error, never silently short data.
///
/// The file is opened with `O_NONBLOCK` and checked with `fstat` on the open descriptor, so a
/// FIFO or device planted where a file should be is refused instead of blocking the caller.
final class CompressedFileReader {
    private let path: String
    private var file: gzFile?
    /// The descriptor zlib reads from (owned by `file`), for the trailer check.
    private var rawDescriptor: Int32?
    /// Whether the file is gzip-compressed (false for plain `.nii`).
    let isCompressed: Bool

    /// Opens `path` for reading. Throws `.fileNotFound`, `.notRegularFile` or `.unreadable`.
    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw NiftiError(.fileNotFound, path: path, "no such file")
            }
            throw NiftiError(.unreadable, path: path, "cannot open: \(String(cString: strerror(code)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw NiftiError(.unreadable, path: path, "cannot stat: \(String(cString: strerror(code)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(descriptor)
            throw NiftiError(.notRegularFile, path: path, "not a regular file (\(Self.kindName(status.st_mode)))")
        }
        // Back to blocking reads for a regular file (O_NONBLOCK has no effect on them anyway).
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        var magic: (UInt8, UInt8) = (0, 0)
        let peeked = withUnsafeMutableBytes(of: &magic) { pread(descriptor, $0.baseAddress, 2, 0) }
        isCompressed = peeked == 2 && magic.0 == 0x1f && magic.1 == 0x8b
        guard let handle = gzdopen(descriptor, "rb") else {
            Glibc.close(descriptor)
            throw NiftiError(.unreadable, path: path, "cannot open a zlib stream on the file")
        }
        gzbuffer(handle, 256 * 1024)
        file = handle
        rawDescriptor = descriptor
    }

    deinit { close() }

    /// Reads up to `count` bytes into `destination`; returns how many arrived (fewer only at
    /// the end of the data). Throws `.corruptCompression` when zlib reports an error.
    func read(into destination: UnsafeMutableRawBufferPointer, count: Int) throws -> Int {
        guard let file else { return 0 }
        var total = 0
        while total < count {
            let chunk = UInt32(min(count - total, 1 << 30))
            let got = gzread(file, destination.baseAddress! + total, chunk)
            if got < 0 { throw corruption() }
            if got == 0 { break }
            total += Int(got)
        }
        if total < count, gzerrorCode() != Z_OK { throw corruption() }
        return total
    }

    /// Reads and discards `count` bytes; returns how many were skipped.
    func skip(_ count: Int) throws -> Int {
        var scratch = [UInt8](repeating: 0, count: min(max(count, 1), 64 * 1024))
        var skipped = 0
        while skipped < count {
            let want = min(count - skipped, scratch.count)
            let got = try scratch.withUnsafeMutableBytes { try read(into: $0, count: want) }
            skipped += got
            if got < want { break }
        }
        return skipped
    }

    /// Reads to the end of the stream so that zlib checks the gzip trailer (CRC-32 and
    /// length). Throws `.corruptCompression` when the check fails.
    ///
    /// For a gzip file, also refuses bytes after the gzip stream: zlib silently ignores
    /// trailing garbage, so the trailer's ISIZE field (the last 4 bytes of a single-member
    /// file) must equal the decompressed length mod 2³², and the raw file must end there.
    /// - Parameter uncompressedLength: bytes consumed by the caller before this call.
    /// - Returns: the (uncompressed) length of the whole file.
    @discardableResult
    func verifyToEnd(uncompressedLength: Int64) throws -> Int64 {
        var total = uncompressedLength
        while true {
            let skipped = try skip(1 << 20)
            total += Int64(skipped)
            if skipped < 1 << 20 { break }
        }
        if gzerrorCode() != Z_OK { throw corruption() }
        guard isCompressed, let descriptor = rawDescriptor else { return total }
        var status = stat()
        var trailer: UInt32 = 0
        guard fstat(descriptor, &status) == 0, status.st_size >= 18,
              withUnsafeMutableBytes(of: &trailer, { pread(descriptor, $0.baseAddress, 4, off_t(status.st_size - 4)) }) == 4 else {
            throw NiftiError(.corruptCompression, path: path, "corrupt compressed data: the gzip trailer cannot be read")
        }
        guard UInt32(littleEndian: trailer) == UInt32(truncatingIfNeeded: total) else {
            throw NiftiError(.corruptCompression, path: path,
                             "corrupt compressed data: the gzip stream's length field does not match its data: the file is truncated, has bytes after its end, or is a multi-member gzip file; recompress it with gzip")
        }
        return total
    }

    func close() {
        if let file { gzclose(file) }
        file = nil
        rawDescriptor = nil
    }

    private func gzerrorCode() -> Int32 {
        guard let file else { return Z_OK }
        var code: Int32 = Z_OK
        _ = gzerror(file, &code)
        return code
    }

    private func corruption() -> NiftiError {
        var code: Int32 = Z_OK
        var message = "unknown zlib error"
        if let file, let text = gzerror(file, &code) { message = Self.readable(String(cString: text)) }
        if code == Z_BUF_ERROR { message = "the gzip stream ends early (file truncated)" }
        return NiftiError(.corruptCompression, path: path, "corrupt compressed data: \(message)")
    }

    /// zlib's message without its "<fd:N>: " prefix, its checksum failure said plainly.
    static func readable(_ zlibMessage: String) -> String {
        var message = zlibMessage
        if message.hasPrefix("<fd:"), let end = message.range(of: ">: ") { message = String(message[end.upperBound...]) }
        if message == "incorrect data check" { return "the checksum (CRC-32) does not match: the file is damaged" }
        return message
    }

    private static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "mode \(String(mode, radix: 8))"
        }
    }
}
