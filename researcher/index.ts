/**
 * The researcher's side: the Experiment SDK, the demo, model export, and training plans
 * (researcher/plans/).
 */
export { Experiment, type ExperimentConfig, type ExperimentResult, type JlResearcherOptions, type RoundSummary, type RunOptions } from './experiment.ts';
export { runDemo, progressLine, wdbcPath, type DemoOptions, type DemoResult } from './demo.ts';
export { bakeParameters } from './model-export.ts';
export * as plans from './plans/index.ts';
