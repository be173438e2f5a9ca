import CNifti

/// Where a 3D voxel grid sits in scanner space: everything a NIfTI header says about it.
///
/// The raw header fields (quaternion, offsets, qfac, sform rows, codes, units) are kept as
/// read so that a mask written with this geometry overlays its source exactly in any viewer;
/// the matrices are derived from them by libnifti. Voxel index order is x fastest:
/// `index = x + nx × (y + ny × z)`.
public struct VolumeGeometry: Sendable, Equatable, Codable {
    /// Sizes of the three axes (nx, ny, nz).
    public var dims: [Int]
    /// Voxel size along each axis (pixdim[1…3]), in `spatialUnits`.
    public var spacing: [Double]
    /// NIFTI_XFORM_* code of the qform (0 = none).
    public var qformCode: Int32
    /// NIFTI_XFORM_* code of the sform (0 = none).
    public var sformCode: Int32
    /// quatern_b, quatern_c, quatern_d.
    public var quaternion: [Double]
    /// qoffset_x, qoffset_y, qoffset_z.
    public var qoffset: [Double]
    /// pixdim[0]: ±1, the handedness of the qform.
    public var qfac: Double
    /// The qform as a row-major 4×4 matrix (voxel index → mm).
    public var qformMatrix: [Double]
    /// The sform as a row-major 4×4 matrix (voxel index → mm).
    public var sformMatrix: [Double]
    /// NIFTI_UNITS_* code for space (2 = mm; 0 = unknown, read as mm).
    public var spatialUnits: Int32
    /// NIFTI_UNITS_* code for time.
    public var temporalUnits: Int32

    /// A plain geometry: identity orientation (RAS), given voxel size, no offset, qform and
    /// sform codes 1 (scanner). For synthetic volumes and tests.
    public init(dims: [Int], spacing: [Double] = [1, 1, 1]) {
        precondition(dims.count == 3 && spacing.count == 3)
        self.dims = dims
        self.spacing = spacing
        qformCode = 1
        sformCode = 1
        quaternion = [0, 0, 0]
        qoffset = [0, 0, 0]
        qfac = 1
        qformMatrix = [spacing[0], 0, 0, 0, 0, spacing[1], 0, 0, 0, 0, spacing[2], 0, 0, 0, 0, 1]
        sformMatrix = qformMatrix
        spatialUnits = 2
        temporalUnits = 8
    }

    /// Reads the geometry libnifti derived from a header.
    init(image: UnsafePointer<nifti_image>) {
        let im = image.pointee
        dims = [Int(im.nx), Int(im.ny), Int(im.nz)]
        spacing = [im.dx, im.dy, im.dz]
        qformCode = im.qform_code
        sformCode = im.sform_code
        quaternion = [im.quatern_b, im.quatern_c, im.quatern_d]
        qoffset = [im.qoffset_x, im.qoffset_y, im.qoffset_z]
        qfac = im.qfac
        var q = [Double](repeating: 0, count: 16)
        var s = [Double](repeating: 0, count: 16)
        cnifti_get_qto_xyz(image, &q)
        cnifti_get_sto_xyz(image, &s)
        qformMatrix = q
        sformMatrix = s
        spatialUnits = im.xyz_units
        temporalUnits = im.time_units
    }

    /// Number of voxels.
    public var voxelCount: Int { dims.reduce(1, *) }

    /// The affine a viewer uses, following nibabel's choice: the sform when its code is set,
    /// else the qform when its code is set, else the qform matrix libnifti builds from pixdim.
    public var bestAffine: [Double] {
        if sformCode > 0 { return sformMatrix }
        return qformMatrix
    }

    /// Three letters naming the direction each voxel axis points to, in the convention of
    /// nibabel's `aff2axcodes`: BraTS files are `LPS`, RAS files (AURORA) `RAS`.
    public var orientation: String {
        var codes: [Int32] = [0, 0, 0]
        cnifti_orientation(bestAffine, &codes)
        return String(codes.map(Self.letter(forOrientationCode:)))
    }

    private static func letter(forOrientationCode code: Int32) -> Character {
        switch code {
        case NIFTI_L2R: return "R"
        case NIFTI_R2L: return "L"
        case NIFTI_P2A: return "A"
        case NIFTI_A2P: return "P"
        case NIFTI_I2S: return "S"
        case NIFTI_S2I: return "I"
        default: return "?"
        }
    }

    /// Spacing in millimetres (unknown units count as mm; metres and microns are converted).
    public var spacingInMillimetres: [Double] {
        let factor: Double
        switch spatialUnits {
        case 1: factor = 1000      // NIFTI_UNITS_METER
        case 3: factor = 0.001     // NIFTI_UNITS_MICRON
        default: factor = 1
        }
        return spacing.map { abs($0) * factor }
    }

    /// Volume of one voxel in millilitres.
    public var voxelVolumeMillilitres: Double {
        spacingInMillimetres.reduce(1, *) / 1000
    }

    /// Whether two grids describe the same voxels in the same place: equal dims and affines
    /// equal to within `tolerance` mm (entries of the best affine).
    public func matches(_ other: VolumeGeometry, tolerance: Double = 1e-3) -> Bool {
        guard dims == other.dims else { return false }
        return zip(bestAffine, other.bestAffine).allSatisfy { abs($0 - $1) <= tolerance }
    }
}
