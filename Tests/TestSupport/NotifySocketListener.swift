import Foundation
import Glibc

/// A datagram socket bound at a temporary path that receives `sd_notify` messages, standing in for
/// systemd (PLATFORM-NOTES.md §2C). Point `NOTIFY_SOCKET` at `path` (in this process with
/// `setenv`, or in a child's environment) and read what arrives with `receive(timeout:)`.
/// The socket file and its directory are removed when the listener is released.
public final class NotifySocketListener: @unchecked Sendable {
    /// The socket's path: the value for `NOTIFY_SOCKET`.
    public let path: String
    private let directory: TemporaryDirectory
    private let descriptor: Int32

    public init() throws {
        directory = try TemporaryDirectory(prefix: "brainseg-notify")
        path = directory.file("notify.sock")
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw POSIXError(.ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }

    /// The next datagram as text, or nil when none arrives within `timeout` seconds.
    public func receive(timeout: TimeInterval = 2) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Every datagram that arrives until none has arrived for `quietPeriod` seconds.
    public func receiveAll(quietPeriod: TimeInterval = 0.2) -> [String] {
        var messages: [String] = []
        while let message = receive(timeout: quietPeriod) { messages.append(message) }
        return messages
    }

    /// Waits up to `timeout` seconds for a datagram containing the line `line` (e.g. `READY=1`),
    /// returning that datagram; the datagrams read on the way are discarded.
    public func waitForMessage(containingLine line: String, timeout: TimeInterval = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let message = receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return nil }
            if message.split(separator: "\n").contains(where: { $0 == line }) { return message }
        }
        return nil
    }

    /// Waits up to `timeout` seconds for a datagram with a line starting with `prefix`
    /// (e.g. `STATUS=segmenting`), returning that datagram.
    public func waitForMessage(containingLinePrefix prefix: String, timeout: TimeInterval = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let message = receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return nil }
            if message.split(separator: "\n").contains(where: { $0.hasPrefix(prefix) }) { return message }
        }
        return nil
    }

    deinit { close(descriptor) }
}
