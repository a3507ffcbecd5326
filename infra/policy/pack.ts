import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies.ts";

new PolicyPack("berth", { policies });
