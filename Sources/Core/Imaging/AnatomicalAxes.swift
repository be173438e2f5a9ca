/// How the three voxel axes of a grid line up with the patient's axes, read from the affine's
/// axis codes (`VolumeGeometry.orientation`, nibabel's `aff2axcodes`): BraTS files are `LPS`,
/// AURORA files `RAS`, and any permutation or flip is handled the same way.
///
/// Patient grid coordinates (r, a, s) index the same voxels as (x, y, z) but count towards the
/// patient's Right, Anterior and Superior: r = 0 is the leftmost column, a = 0 the most
/// posterior, s = 0 the most inferior. Code that must look the same whatever the file's
/// orientation (the QC picture) works in these coordinates. Oblique affines are reduced to the
/// closest axes, as every viewer does for display.
public struct AnatomicalAxes: Sendable, Equatable {
    /// For each patient axis (0 = towards Right, 1 = towards Anterior, 2 = towards Superior):
    /// the voxel axis (0 = x, 1 = y, 2 = z) that runs along it.
    public let voxelAxis: [Int]
    /// For each patient axis: whether the voxel index grows towards R/A/S (false: towards L/P/I).
    public let growsTowardsPositive: [Bool]

    /// Axes from three orientation letters (one of R/L, one of A/P, one of S/I, in voxel-axis
    /// order), e.g. `"LPS"`; nil when the letters do not name three distinct patient axes.
    public init?(orientation: String) {
        let letters = Array(orientation.uppercased())
        guard letters.count == 3 else { return nil }
        var voxelAxis = [-1, -1, -1]
        var positive = [false, false, false]
        for (axis, letter) in letters.enumerated() {
            let (patientAxis, isPositive): (Int, Bool)
            switch letter {
            case "R": (patientAxis, isPositive) = (0, true)
            case "L": (patientAxis, isPositive) = (0, false)
            case "A": (patientAxis, isPositive) = (1, true)
            case "P": (patientAxis, isPositive) = (1, false)
            case "S": (patientAxis, isPositive) = (2, true)
            case "I": (patientAxis, isPositive) = (2, false)
            default: return nil
            }
            guard voxelAxis[patientAxis] < 0 else { return nil }
            voxelAxis[patientAxis] = axis
            positive[patientAxis] = isPositive
        }
        self.voxelAxis = voxelAxis
        growsTowardsPositive = positive
    }

    /// The axes of `geometry`'s best affine. A header without a usable affine (orientation
    /// `???`) is read as RAS, the NIfTI default for an identity transform.
    public init(geometry: VolumeGeometry) {
        self = AnatomicalAxes(orientation: geometry.orientation) ?? .ras
    }

    /// Voxel axes already pointing to Right, Anterior, Superior.
    public static let ras = AnatomicalAxes(orientation: "RAS")!

    /// Per-voxel-axis values (x, y, z), e.g. dims or spacing, reordered per patient axis (R, A, S).
    public func patientValues<T>(_ voxelAxisValues: [T]) -> [T] {
        precondition(voxelAxisValues.count == 3)
        return voxelAxis.map { voxelAxisValues[$0] }
    }

    /// Patient grid coordinates (r, a, s) of the voxel (x, y, z) in a grid of `dims`.
    public func patientCoordinates(ofVoxel voxel: [Int], dims: [Int]) -> [Int] {
        (0..<3).map { patientAxis in
            let axis = voxelAxis[patientAxis]
            return growsTowardsPositive[patientAxis] ? voxel[axis] : dims[axis] - 1 - voxel[axis]
        }
    }

    /// Voxel coordinates (x, y, z) of the patient grid coordinates (r, a, s) in a grid of `dims`.
    public func voxelCoordinates(ofPatient patient: [Int], dims: [Int]) -> [Int] {
        var voxel = [0, 0, 0]
        for patientAxis in 0..<3 {
            let axis = voxelAxis[patientAxis]
            voxel[axis] = growsTowardsPositive[patientAxis] ? patient[patientAxis] : dims[axis] - 1 - patient[patientAxis]
        }
        return voxel
    }

    /// The flat-index contribution (x fastest) of patient coordinate `coordinate` along
    /// `patientAxis`: the flat index of (r, a, s) is the sum of the three contributions. Lets
    /// loops walk a grid in patient order with additions only.
    public func flatOffset(patientAxis: Int, coordinate: Int, dims: [Int]) -> Int {
        let axis = voxelAxis[patientAxis]
        let stride = axis == 0 ? 1 : (axis == 1 ? dims[0] : dims[0] * dims[1])
        let voxel = growsTowardsPositive[patientAxis] ? coordinate : dims[axis] - 1 - coordinate
        return voxel * stride
    }
}
