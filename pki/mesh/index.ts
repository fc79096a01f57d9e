/** WireGuard mesh: planning (addresses, configurations, signed roster) and driving wg/ip. */
export { planMesh, loadMeshAllocations, type MeshPlan, type MeshPlanOptions, type MeshAllocations, type Topology } from './plan.ts';
export { renderConfig, parseConfig, type WgConfig, type WgPeerConfig } from './config.ts';
export { meshUp, meshDown, meshStatus, parseDump, assertInterfaceName, wgSetArgs, type UpResult, type InterfaceStatus, type PeerStatus, type Implementation, type WgRunOptions } from './wg.ts';
export { parseRange, hosts, inRange, type Ipv4Range } from './net.ts';
