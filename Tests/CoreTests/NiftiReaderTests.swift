import Core
import Foundation
import Testing
import TestSupport

/// The reader against nibabel's view of the same files (fixtures by make_nifti_fixtures.py).
@Suite("NIfTI reader")
struct NiftiReaderTests {
    static let images = NiftiFixtureExpectations.shared.images

    @Test("matches nibabel: dims, datatype, byte order, geometry, scaling, voxels", arguments: images)
    func matchesNibabel(_ expected: NiftiFixtureExpectations.Image) throws {
        let image = try NiftiReader.read(from: expected.path, requireThreeDimensional: true)
        #expect(image.header.niftiVersion == expected.niftiVersion)
        #expect(Array(image.header.dims.prefix(expected.dims.count)) == expected.dims)
        #expect(image.header.datatype.name == expected.datatype)
        #expect(image.header.isByteSwapped == expected.bigEndian)  // this machine is little-endian
        #expect(image.header.extensionCount == expected.extensions)
        #expect(image.geometry.spacing == expected.spacing)
        #expect(image.geometry.qformCode == expected.qformCode)
        #expect(image.geometry.sformCode == expected.sformCode)
        #expect(image.geometry.orientation == expected.orientation)
        #expect(image.header.appliesScaling == expected.scalingApplied)
        if let slope = expected.rawSlope {
            #expect(image.header.scaleSlope == slope)
        } else {
            #expect(image.header.scaleSlope.isNaN)
        }
        if expected.qformCode > 0 {
            expectClose(image.geometry.qformMatrix, expected.qformMatrix, tolerance: 1e-5, "qform")
        }
        if expected.sformCode > 0 {
            expectClose(image.geometry.sformMatrix, expected.sformMatrix, tolerance: 1e-5, "sform")
        }
        expectClose(image.geometry.bestAffine, expected.bestAffine, tolerance: 1e-5, "best affine")
        #expect(image.voxels.count == expected.values.count)
        // Every value is exactly representable in Float32 except where float64 data rounds.
        let mismatches = zip(image.voxels, expected.values).filter { Double($0) != Double(Float($1)) }
        #expect(mismatches.isEmpty, "\(mismatches.count) voxels differ, first \(mismatches.first.map { "\($0)" } ?? "")")
    }

    @Test("Volume.read accepts a 3D file and exposes voxels x-fastest")
    func volumeIndexing() throws {
        let expected = Self.images.first { $0.file == "dtype_int16.nii.gz" }!
        let volume = try Volume.read(from: expected.path)
        #expect(volume.dims == [5, 4, 3])
        // x fastest: (x=1, y=2, z=1) → 1 + 5 × (2 + 4 × 1) = 31
        #expect(Double(volume[1, 2, 1]) == expected.values[31])
    }
}

func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= tolerance, "\(what): largest difference \(worst)\nactual   \(actual)\nexpected \(expected)", sourceLocation: sourceLocation)
}
