/// The two configurations every model plugin comes in (MODELS.md, "Profiles").
public enum ModelProfile: String, Sendable, CaseIterable, Codable {
    /// Brain crop at 2 mm, narrow widths: trainable overnight on a 2-core machine. The default.
    case cpu
    /// 1 mm and the published widths: for imported or long-trained weights.
    case paper
}

/// What a model is for in the distillation scheme.
public enum ModelRole: String, Sendable, CaseIterable, Codable {
    /// One of the three networks whose averaged output labels unannotated cases.
    case teacher
    /// The single network retrained nightly on labelled plus pseudo-labelled cases.
    case student
}
