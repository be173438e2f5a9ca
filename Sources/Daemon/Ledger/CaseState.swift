/// Where a case is in its life, as the ledger records it (SPEC.md §2, "ledger.sqlite").
///
/// The lifecycle, with the transitions the ledger accepts (`canTransition(to:)`):
///
/// ```
/// received ──► queued ──► processing ──► completed
///    │           │          │  ▲   │
///    │           │          │  │   └──► retrying ──► queued / processing
///    │           │          │  └──────────────┘
///    │           │          └──► queued            (requeued: SIGTERM or crash recovery)
///    ├──► processing
///    ├──► duplicate                                (same content completed before)
///    └──► failed ◄── (from every non-final state)
/// ```
///
/// `completed`, `failed` and `duplicate` are final: a case dropped again after any of them is a
/// new ledger record (see `Ledger.register`). Raw values are what the database stores, so
/// never rename a case; add new states at the end and extend `successors`.
public enum CaseState: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Seen in `incoming/` and hashed; not yet claimed.
    case received
    /// Waiting for the work loop.
    case queued
    /// Claimed into `work/`; an attempt is running. Left behind only by a killed daemon.
    case processing
    /// Outputs written and recorded.
    case completed
    /// Permanently failed (invalid input, too many attempts, superseded); the reason is `lastError`.
    case failed
    /// A transient error (disk full, out of memory) ended the last attempt; another will follow.
    case retrying
    /// The same content was completed before; not processed again.
    case duplicate

    public var description: String { rawValue }

    /// Whether no transition leaves this state.
    public var isFinal: Bool { successors.isEmpty }

    /// States the daemon may still act on (the queue, in the broad sense).
    public static let unfinished: [CaseState] = [.received, .queued, .processing, .retrying]

    /// The states this one may move to.
    public var successors: Set<CaseState> {
        switch self {
        case .received: return [.queued, .processing, .duplicate, .failed]
        case .queued: return [.processing, .failed]
        case .processing: return [.completed, .failed, .retrying, .queued]
        case .retrying: return [.queued, .processing, .failed]
        case .completed, .failed, .duplicate: return []
        }
    }

    /// Whether `next` is an allowed successor (a state never moves to itself).
    public func canTransition(to next: CaseState) -> Bool { successors.contains(next) }
}
