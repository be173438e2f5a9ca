import ArgumentParser
import Core
import Foundation

/// `brainseg inspect FILE…`: what a NIfTI header says and what the voxels hold.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe NIfTI files: dims, voxel size, datatype, scaling, orientation, statistics."
    )

    @Argument(help: "NIfTI files (.nii or .nii.gz).")
    var files: [String]

    @Flag(help: "Print one JSON array for machines instead of text.")
    var json = false

    func run() async throws {
        var reports: [InspectionReport] = []
        for file in files {
            do {
                let image = try NiftiReader.read(from: file, requireThreeDimensional: false, allowNonFinite: true)
                reports.append(InspectionReport(image))
            } catch let error as NiftiError {
                reports.append(InspectionReport(path: file, error: error))
                if !json { printToStandardError("brainseg: error: \(error)") }
            }
        }
        if json {
            print(try ReadableJSON.string(reports))
        } else {
            let described = reports.filter { $0.error == nil }
            for (index, report) in described.enumerated() {
                if index > 0 { print("") }
                print(report.text)
            }
        }
        if reports.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}
