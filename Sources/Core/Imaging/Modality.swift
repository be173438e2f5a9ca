/// The four MRI sequences of a case, in the channel order every model expects:
/// T1, T1ce, T2, FLAIR (MODELS.md).
public enum Modality: Int, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case t1 = 0
    case t1ce = 1
    case t2 = 2
    case flair = 3

    /// Name suffixes that identify the modality, per naming convention (SPEC.md §1):
    /// BraTS 2017–2021 `_t1`, 2023+ `-t1n`, and plain file names.
    var suffixes: [String] {
        switch self {
        case .t1: return ["_t1", "-t1n"]
        case .t1ce: return ["_t1ce", "-t1c"]
        case .t2: return ["_t2", "-t2w"]
        case .flair: return ["_flair", "-t2f"]
        }
    }

    var plainNames: [String] {
        switch self {
        case .t1: return ["t1"]
        case .t1ce: return ["t1c", "t1ce"]
        case .t2: return ["t2"]
        case .flair: return ["flair"]
        }
    }

    public var description: String {
        switch self {
        case .t1: return "T1"
        case .t1ce: return "T1ce"
        case .t2: return "T2"
        case .flair: return "FLAIR"
        }
    }
}
