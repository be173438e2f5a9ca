import Dispatch
import Foundation

/// SIGTERM/SIGINT (stop) and SIGHUP (reload) turned into flags the work loop polls, with a
/// callback to wake the loop's wait. Signals are blocked from their default action and
/// delivered through DispatchSource on a private queue.
public final class SignalMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    private var reload = false
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "brainseg.signals")

    public init(wake: @escaping @Sendable () -> Void) {
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                if signalNumber == SIGHUP { self.reload = true } else { self.stop = true }
                self.lock.unlock()
                wake()
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Whether a stop was requested (stays true).
    public var stopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stop
    }

    /// Whether a reload was requested since the last call (clears the flag).
    public func takeReloadRequest() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let value = reload
        reload = false
        return value
    }
}
