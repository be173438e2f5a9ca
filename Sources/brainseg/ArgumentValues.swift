import ArgumentParser
import Core
import Plugins

// Library enums used directly as option values: ArgumentParser parses them from their raw
// values and lists the choices in the help and in its error messages.
extension ModelProfile: ExpressibleByArgument {}
extension LabelConvention: ExpressibleByArgument {}
extension ConvolutionTuning.Threading: ExpressibleByArgument {}
extension ConvolutionTuning.InputGradientMethod: ExpressibleByArgument {}
extension ConvolutionTuning.ForwardMethod: ExpressibleByArgument {}
extension ConvolutionTuning.Backend: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
