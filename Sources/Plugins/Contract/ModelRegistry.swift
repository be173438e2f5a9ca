import Core

/// The explicit list of model plugins (no reflection, no dynamic loading): `unet`,
/// `resunet-vae`, `cascade` and `student`, each in the `cpu` and `paper` profiles.
public enum ModelRegistry {
    /// The student's name: the one model the nightly retrain changes.
    public static let studentName = "student"
    /// Registered names, teachers first.
    public static let names = ["unet", "resunet-vae", "cascade", studentName]
    /// The default ensemble members.
    public static let teacherNames = ["unet", "resunet-vae", "cascade"]

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
