import Glibc

/// Writes one line to standard error (file descriptor 2, unbuffered), for errors and progress.
func printToStandardError(_ line: String) {
    let text = line.hasSuffix("\n") ? line : line + "\n"
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { break }
        offset += written
    }
}
