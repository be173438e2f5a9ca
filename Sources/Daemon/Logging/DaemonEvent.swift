import Logging

/// The daemon's event types, each with a fixed journal `MESSAGE_ID` (SPEC.md §7), so that an
/// operator can select one kind of event regardless of its wording:
/// `journalctl -u brainseg MESSAGE_ID=0ad8131db3c44c159feadd153d43ed60` (every failed case).
///
/// The identifiers were generated once (random 128-bit, lowercase hex, as `journalctl
/// --new-id128` would) and must never change: operators' queries, alerts and dashboards depend on
/// them. Add a new case with a new identifier instead of reusing one. `systemd/README.md` lists
/// them.
public enum DaemonEvent: String, CaseIterable, Sendable {
    case caseReceived = "case-received"
    case caseStarted = "case-started"
    case caseCompleted = "case-completed"
    case caseFailed = "case-failed"
    case caseRetried = "case-retried"
    case configurationReloaded = "configuration-reloaded"
    case poolAdmitted = "pool-admitted"
    case poolRejected = "pool-rejected"
    case retrainStarted = "retrain-started"
    case retrainFinished = "retrain-finished"
    case promotionAccepted = "promotion-accepted"
    case promotionRejected = "promotion-rejected"
    case rollback = "rollback"
    /// An entry of incoming/ the daemon cannot move (permissions); retried with back-off.
    case caseStuck = "case-stuck"

    /// The journal `MESSAGE_ID`: 32 lowercase hex digits, fixed forever.
    public var messageID: String {
        switch self {
        case .caseReceived: return "d4e0140e6fb24683abb0da8936fa98ed"
        case .caseStarted: return "de547bc64f7846acb7b680e0817690c3"
        case .caseCompleted: return "74f87671f548409daf5f55fd3b86fe2a"
        case .caseFailed: return "0ad8131db3c44c159feadd153d43ed60"
        case .caseRetried: return "c04fb07a049d4f789deaec2d989d234e"
        case .configurationReloaded: return "7e9effd3db3147d1997caf2be6dc804b"
        case .poolAdmitted: return "ad5368c48c134ac8b3f1fe1baa05b94f"
        case .poolRejected: return "edae77ed6feb4316b8d770bcfc5e341a"
        case .retrainStarted: return "cdd69830998f4a05b0d148f1db7e98fc"
        case .retrainFinished: return "2147aeeb637248ed9e819b5eb5df85cd"
        case .promotionAccepted: return "882bbec5fc47425fb09d87bc917d4aa5"
        case .promotionRejected: return "e5b958f890cb4480b3542ca8e590d7d1"
        case .rollback: return "fdf1747f3a35405295a25c8d1809ae73"
        case .caseStuck: return "34ae7684fba84ad79f75bad703deef6f"
        }
    }

    /// The stable event name sent as the `EVENT` field (`journalctl EVENT=case-failed`) and shown
    /// on stderr lines.
    public var name: String { rawValue }

    /// The default message when the caller gives none, e.g. `case completed`.
    public var summary: String { rawValue.split(separator: "-").joined(separator: " ") }

    /// The level an event is logged at unless the caller overrides it: failures are errors, retries
    /// and rollbacks warnings, rejected promotions notices, everything else info.
    public var defaultLevel: Logger.Level {
        switch self {
        case .caseFailed, .caseStuck: return .error
        case .caseRetried, .rollback: return .warning
        case .promotionRejected: return .notice
        default: return .info
        }
    }
}

/// The documented journal fields of daemon events. Names are valid journal field names as they
/// stand; values are plain text (numbers in `description` form).
public enum DaemonEventField: String, CaseIterable, Sendable {
    /// The case identifier: the name of the case's directory in `incoming/` (never a patient name).
    case caseID = "CASE_ID"
    /// Pipeline stage: `load`, `validate`, `preprocess`, `inference`, `ensemble`, `postprocess`,
    /// `write`, `evaluate`, `pool` (the pipeline may add more).
    case stage = "STAGE"
    /// Duration of the case or stage in whole milliseconds.
    case durationMilliseconds = "DURATION_MS"
    /// Model name (`unet`, `resunet-vae`, `cascade`, `student`) or `ensemble`.
    case model = "MODEL"
    /// Model version (the directory name under `models/<model>/`).
    case modelVersion = "MODEL_VERSION"
    /// Whole tumour, tumour core and enhancing tumour volumes in millilitres.
    case wholeTumourMillilitres = "WT_ML"
    case tumourCoreMillilitres = "TC_ML"
    case enhancingTumourMillilitres = "ET_ML"
    /// Dice against an expert segmentation shipped with the case, per region, in [0, 1].
    case diceWholeTumour = "DICE_WT"
    case diceTumourCore = "DICE_TC"
    case diceEnhancingTumour = "DICE_ET"
    /// Attempt number of a case (1 for the first try); set on `caseRetried` and `caseFailed`.
    case attempt = "ATTEMPT"
    /// The human-readable reason of a failure, rejection or retry (the same text as `error.txt`).
    case reason = "REASON"
    /// Confidence score of a pool decision, in [0, 1].
    case score = "SCORE"

    /// The journal field name.
    public var name: String { rawValue }
}

extension Logger {
    /// Logs `event` with its fixed `MESSAGE_ID`, its `EVENT` name and `fields`, at
    /// `event.defaultLevel` unless `level` is given. The message defaults to the event's summary
    /// followed by the case identifier when one is given (`case completed: Brats18_2013_3_1`);
    /// journalctl shows only the message by default, so a custom message should name the case
    /// too. Values are logged as their `description`; pass case identifiers, never patient names.
    ///
    ///     logger.log(.caseCompleted, fields: [.caseID: name, .durationMilliseconds: 41200, .wholeTumourMillilitres: 23.4])
    public func log(_ event: DaemonEvent, _ message: String? = nil,
                    fields: KeyValuePairs<DaemonEventField, any CustomStringConvertible & Sendable> = [:],
                    level: Logger.Level? = nil,
                    file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(event, message, fieldList: fields.map { ($0.key, $0.value) }, level: level, file: file, function: function, line: line)
    }

    /// The same, with fields assembled at run time (optional fields appended as needed).
    public func log(_ event: DaemonEvent, _ message: String? = nil,
                    fieldList fields: [(DaemonEventField, any CustomStringConvertible & Sendable)],
                    level: Logger.Level? = nil,
                    file: String = #fileID, function: String = #function, line: UInt = #line) {
        var metadata: Logger.Metadata = ["MESSAGE_ID": .string(event.messageID), "EVENT": .string(event.name)]
        var caseID: String?
        for (field, value) in fields {
            let text = value.description
            metadata[field.name] = .string(text)
            if field == .caseID { caseID = text }
        }
        let text = message ?? (caseID.map { "\(event.summary): \($0)" } ?? event.summary)
        log(level: level ?? event.defaultLevel, "\(text)", metadata: metadata, file: file, function: function, line: line)
    }
}
