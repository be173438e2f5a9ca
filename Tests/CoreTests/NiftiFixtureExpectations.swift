import TestSupport

/// `Tests/Fixtures/nifti/expected.json`, written by `make_nifti_fixtures.py` from what
/// nibabel reads back from each fixture file.
struct NiftiFixtureExpectations: Decodable {
    struct Image: Decodable, Sendable, CustomTestStringConvertibleName {
        var file: String
        var niftiVersion: Int
        var dims: [Int]
        var datatype: String
        var bigEndian: Bool
        var spacing: [Double]
        var qformCode: Int32
        var sformCode: Int32
        var qformMatrix: [Double]
        var sformMatrix: [Double]
        var bestAffine: [Double]
        var orientation: String
        /// nil where the header holds NaN (nibabel's way of saying "no scaling").
        var rawSlope: Double?
        var rawIntercept: Double?
        var scalingApplied: Bool
        var extensions: Int
        var values: [Double]

        var path: String { Fixtures.path("nifti/\(file)") }
        var testName: String { file }
    }

    struct Invalid: Decodable {
        var nonfinite: String
        var fourDimensional: String
        var shortData: String
    }

    var generator: String
    var images: [Image]
    var invalid: Invalid

    static let shared: NiftiFixtureExpectations = {
        do {
            return try Fixtures.json("nifti/expected.json", as: NiftiFixtureExpectations.self)
        } catch {
            fatalError("cannot load Tests/Fixtures/nifti/expected.json: \(error)")
        }
    }()
}

/// Names parameterised test cases by file rather than by a dump of the value.
protocol CustomTestStringConvertibleName {
    var testName: String { get }
}

extension NiftiFixtureExpectations.Image: CustomStringConvertible {
    var description: String { testName }
}
