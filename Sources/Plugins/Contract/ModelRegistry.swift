import Core

/// The explicit list of model plugins (no reflection, no dynamic loading): `unet`,
/// `resunet-vae`, `cascade` and `student`, each in the `cpu` and `paper` profiles.
public enum ModelRegistry {
    /// The student's name: the one model the nightly retrain changes.
    public static let studentName = "student"
    /// Registered names, teachers first.
    public static let names = ["unet", "resunet-vae", "cascade", studentName]
    /// The teachers: the networks whose agreement the distillation pool trusts.
    public static let teacherNames = ["unet", "resunet-vae", "cascade"]
    /// The default ensemble members: the teachers and the student. Chosen by cross-validation
    /// (models/README.md, "The student as a fourth ensemble member"): out of fold on the 13
    /// non-gate cases the four-member ensemble is above the three teachers on 10 of 13 cases
    /// (mean Dice 0.777 against 0.771), and on the gate's hold-out too (0.666 against 0.653).
    /// The daemon ran the student on every case already, so the mask costs no extra inference.
    public static let defaultEnsembleNames = teacherNames + [studentName]

    /// A fresh (randomly initialised) model; nil for an unknown name.
    public static func make(_ name: String, profile: ModelProfile, seed: UInt64 = 0) -> SegmentationModel? {
        switch name {
        case "unet": return UNetModel(profile: profile, seed: seed)
        case "resunet-vae": return ResUNetVAEModel(profile: profile, seed: seed)
        case "cascade": return CascadeModel(profile: profile, seed: seed)
        case studentName: return StudentModel(profile: profile, seed: seed)
        default: return nil
        }
    }

    /// An error for an unknown model name that lists the known ones.
    public struct UnknownModel: Error, CustomStringConvertible, Sendable {
        public let name: String
        public init(name: String) { self.name = name }
        public var description: String { "unknown model '\(name)'; known models: \(ModelRegistry.names.joined(separator: ", "))" }
    }
}
