/**
 * Differential privacy engine: exact RDP and tight PLD accounting, calibration, secure discrete
 * Gaussian samplers, clipping, DP-SGD and the local / distributed / central mechanisms.
 * Pure functions, no I/O (the durable budget ledger lives in node/ledger).
 */
export * from './errors.ts';
export {
  DEFAULT_RDP_ORDERS,
  assertDelta,
  assertNoiseMultiplier,
  assertOrders,
  assertSamplingRate,
  deltaFromRdp,
  epsilonFromRdp,
  rdpCurve,
  rdpPoissonGaussian,
  type RdpConversion,
  type RdpConversionResult,
} from './rdp.ts';
export {
  assertEvent,
  calibrateNoiseMultiplier,
  composeRdp,
  computeDelta,
  computeEpsilon,
  ddgTau,
  rdpDistributedDiscreteGaussian,
  type AccountantKind,
  type AccountingOptions,
  type CalibrationInput,
  type CalibrationResult,
  type DistributedDiscreteGaussianEvent,
  type DpEvent,
  type EpsilonResult,
  type PoissonGaussianEvent,
} from './accountant.ts';
export { pldEpsilonForEvents, subsampledGaussianPlds, type DiscretePld } from './pld.ts';
export {
  DiscreteGaussianTable,
  TABLE_MAX_SIGMA,
  bernoulliExpNeg,
  discreteGaussianDelta,
  discreteGaussianNormalizer,
  discreteGaussianPmf,
  discreteGaussianTable,
  discreteGaussianVariance,
  rationalFromNumber,
  sampleDiscreteGaussianExact,
  sampleDiscreteGaussianVector,
  type Rational,
} from './discrete-gaussian.ts';
export { poissonSubsampledRdpBound } from './accountant.ts';
export {
  addGaussianNoise,
  assertMechanismAllowed,
  assertMechanismConfig,
  clipAndSumPerSample,
  clipL2,
  distributedLocalSigma,
  distributedNoise,
  distributedNoiseBound,
  dpSgdStep,
  gridL2Sensitivity,
  l2Norm,
  poissonSample,
  privatizeUpdateLocal,
  roundEvent,
  samplingRateFor,
  type DpMechanismConfig,
  type DpMode,
  type DpSgdParams,
  type GradientMatrix,
  type NodeDpPolicy,
  type PrivacyUnit,
} from './mechanism.ts';
